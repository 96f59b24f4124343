"""loopback.py — what the Python e2e tests share: a free port on 127.0.0.1, and
waiting for a server started there to answer."""
import socket
import time
import urllib.error
import urllib.request


def free_port():
    """A TCP port nothing listens on now (the kernel's pick), for a server to bind."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_health(proc, port, tries):
    """True once GET /health on port answers; False when proc (the server's
    Popen) exits first or tries polls 0.1 s apart run out."""
    for _ in range(tries):
        try:
            urllib.request.urlopen("http://127.0.0.1:%d/health" % port, timeout=5)
            return True
        except (urllib.error.URLError, OSError):
            if proc.poll() is not None:
                return False
            time.sleep(0.1)
    return False
