"""loopback.py — what the Python e2e tests share: a free port on 127.0.0.1,
waiting for a server started there to answer, and one HTTP request to it."""
import json
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


def http(port, method, path, body=None, headers=None, raw=None, timeout=60):
    """(status, body text, headers) of one request to 127.0.0.1:port; body is
    sent as JSON, raw as it is; an HTTP error status is returned, not raised."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data, method=method,
                                 headers=headers or {"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers
