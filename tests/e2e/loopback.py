"""loopback.py — what the Python e2e tests share: a free port on 127.0.0.1."""
import socket


def free_port():
    """A TCP port nothing listens on now (the kernel's pick), for a server to bind."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p
