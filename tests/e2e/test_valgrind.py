#!/usr/bin/python3
"""e2e under valgrind: the real `hearth` binary, as users drive it, in memcheck.

The ASan build (build-test/) checks every test; this one checks the plain
build (-Dvalgrind=true, no sanitizer) the way valgrind sees it: uninitialised
reads that ASan does not track, and leaks at exit. With the shipped default
model it runs `hearth bench tools` on three held-out items and `hearth chat`
once, then `hearth serve` answering a guarded tool call, a streamed reply,
malformed JSON and a realtime WebSocket turn, and stopping on SIGTERM. Each
run must exit 0: valgrind exits 99 on any error or definite/indirect leak.

Valgrind hides AVX-512 from the program (its CPUID), so the kernels run the
AVX2 path here; test_kernels checks the others under ASan.

Skips (77) while the default model is absent. Every wait is bounded (slow:
memcheck runs the model ~50x slower).
"""
import asyncio
import json
import os
import subprocess
import sys
import tempfile

from loopback import free_port, http, wait_health

SRC = os.environ.get("HEARTH_SRC", os.path.join(os.path.dirname(__file__), "../.."))
HEARTH = os.path.join(os.environ["HEARTH_BUILD"], "app", "hearth")
VALGRIND = os.environ.get("HEARTH_VALGRIND", "valgrind")
# tests/meson.build's memcheck flags (errors and definite/indirect leaks exit 99)
MEMCHECK = os.environ["HEARTH_MEMCHECK"].split()
MODEL = os.path.join(SRC, "assets", "hearth-tiny.q8_0.gguf")
HELDOUT = os.path.join(SRC, "assets", "eval", "heldout.jsonl")
fails = 0


def check(name, ok, detail=""):
    global fails
    print(("ok: " if ok else "FAIL: ") + name + ("" if ok else "  " + str(detail)[-1500:]))
    fails += not ok


def memcheck(log):
    return [VALGRIND] + MEMCHECK + ["--log-file=" + log]


def report(log):
    with open(log) as f:
        return f.read()


def run(name, args, log, timeout=600):
    r = subprocess.run(memcheck(log) + [HEARTH] + args, capture_output=True, text=True,
                       timeout=timeout)
    check("%s: exit 0 under memcheck (rc %d)" % (name, r.returncode), r.returncode == 0,
          r.stderr + report(log))
    return r


def request(port, path, body=None, raw=None):
    return http(port, "POST", path, body, raw=raw, timeout=300)[:2]


async def realtime_turn(port):
    import websockets
    async with websockets.connect("ws://127.0.0.1:%d/v1/realtime" % port, max_size=None,
                                  open_timeout=60) as ws:
        first = json.loads(await asyncio.wait_for(ws.recv(), 60))
        await ws.send(json.dumps({"type": "conversation.item.create", "item": {
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}}))
        await ws.send(json.dumps({"type": "response.create", "response": {"max_output_tokens": 4}}))
        types = [first["type"]]
        for _ in range(200):
            ev = json.loads(await asyncio.wait_for(ws.recv(), 300))
            types.append(ev["type"])
            if ev["type"] in ("response.done", "error"):
                break
        return types


def serve(tmp, tools):
    port = free_port()
    log = os.path.join(tmp, "serve.vg")
    p = subprocess.Popen(memcheck(log) + [HEARTH, "serve", "--model", MODEL, "--listen",
                                          "127.0.0.1:%d" % port, "--threads", "2"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        up = wait_health(p, port, 1200)
        check("serve: /health answers under memcheck", up)
        if not up:
            return
        st, body = request(port, "/v1/chat/completions", {
            "messages": [{"role": "user", "content": "set a timer for ten minutes"}],
            "tools": tools, "temperature": 0, "max_tokens": 40})
        calls = json.loads(body)["choices"][0]["message"].get("tool_calls") if st == 200 else None
        check("serve: a guarded tool call (%s)" % (calls and calls[0]["function"]["name"]),
              st == 200 and calls and json.loads(calls[0]["function"]["arguments"]) is not None, body)
        st, body = request(port, "/v1/chat/completions", {
            "messages": [{"role": "user", "content": "hello"}], "stream": True, "max_tokens": 6})
        check("serve: a streamed reply ends with [DONE]", st == 200 and "data: [DONE]" in body, body)
        st, body = request(port, "/v1/chat/completions", raw=b'{"messages": [')
        check("serve: malformed JSON is a 400 with a message", st == 400 and "error" in body, body)
        try:
            import websockets  # noqa: F401
        except ImportError:
            print("note: python3-websockets missing, realtime turn not run")
        else:
            types = asyncio.run(realtime_turn(port))
            check("serve: a realtime turn completes (%d events)" % len(types),
                  types[0] == "session.created" and types[-1] == "response.done", types)
    finally:
        p.terminate()
        try:
            rc = p.wait(timeout=120)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
    check("serve: SIGTERM, exit 0 under memcheck (rc %d)" % rc, rc == 0,
          p.stderr.read().decode() + report(log))


def main():
    if not os.path.exists(MODEL):
        print("skipped: %s not found (scripts/train/train.sh builds the default model)" % MODEL)
        return 77
    with open(HELDOUT) as f:
        items = [json.loads(line) for line in f]
    tools = next(it["tools"] for it in items if it.get("tools"))
    with tempfile.TemporaryDirectory() as tmp:
        three = os.path.join(tmp, "three.jsonl")
        with open(three, "w") as f:
            for it in items[:3]:
                f.write(json.dumps(it) + "\n")
        r = run("bench tools", ["bench", "tools", "--model", MODEL, "--data", three,
                                "--threads", "2"], os.path.join(tmp, "bench.vg"))
        check("bench tools: the report is printed", "exact argument match" in r.stdout, r.stdout)
        run("chat", ["chat", "--model", MODEL, "--prompt", "set a tmier for ten minutes",
                     "--max-tokens", "4", "--threads", "2"], os.path.join(tmp, "chat.vg"))
        serve(tmp, tools)
    print("%d failed" % fails)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
