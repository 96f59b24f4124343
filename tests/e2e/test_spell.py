#!/usr/bin/python3
"""e2e: typos mended before the model reads a request, as a user meets it.

Starts the real `hearth serve` with the shipped default model (whose file
carries its lexicon, hearth.lexicon.words) on a loopback port and asks it,
with the home tools, to act on requests with a typo in the word a tool
argument copies ("bedrom", "berln"). Arguments marked x-hearth-verbatim can
only be words the user said, so the right room or city in the call shows
the server mended the word before the model and the guard saw it; a second
server started with --no-spell gets the same requests and cannot name them.

`hearth chat` mends what is typed the same way and says what the model
read. A copy of the model whose lexicon lost its words (the key renamed) is
refused at load with a message naming the keys.

Skips (exit 77) while the default model is absent. Every wait is bounded.
"""
import json
import os
import subprocess
import sys
import tempfile

from loopback import free_port, http, wait_health

SRC = os.environ.get("HEARTH_SRC", os.path.join(os.path.dirname(__file__), "../.."))
HEARTH = os.path.join(os.environ["HEARTH_BUILD"], "app", "hearth")
MODEL = os.environ.get("HEARTH_DEFAULT_MODEL", os.path.join(SRC, "assets", "hearth-tiny.q8_0.gguf"))
HELDOUT = os.path.join(SRC, "assets", "eval", "heldout.jsonl")
# (request, tool, argument, the word as meant)
CASES = [("turn on the bedrom lights", "set_light", "room", "bedroom"),
         ("what's the weather in berln tomorrow", "get_weather", "place", "berlin")]
fails = 0


def check(name, ok, detail=""):
    global fails
    print(("ok: " if ok else "FAIL: ") + name + ("" if ok else "  " + str(detail)[:400]))
    fails += not ok


def post(port, body):
    st, text, _ = http(port, "POST", "/v1/chat/completions", body)
    return st, json.loads(text) if st == 200 else text


def serve(extra):
    port = free_port()
    p = subprocess.Popen([HEARTH, "serve", "--model", MODEL, "--listen", "127.0.0.1:%d" % port,
                          "--threads", "2"] + extra, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if wait_health(p, port, 200):
        return p, port
    p.kill()
    raise SystemExit("FAIL: hearth serve %s did not come up: %s" % (extra, p.stderr.read().decode()[-400:]))


def calls(port, tools, text):
    st, d = post(port, {"model": "hearth-tiny", "messages": [{"role": "user", "content": text}],
                        "tools": tools, "temperature": 0, "max_tokens": 80})
    if st != 200:
        return st, []
    return st, [(c["function"]["name"], json.loads(c["function"]["arguments"]))
                for c in d["choices"][0]["message"].get("tool_calls") or []]


def main():
    if not os.path.exists(MODEL):
        print("skipped: %s not found (scripts/train/train.sh builds the default model)" % MODEL)
        return 77
    with open(HELDOUT) as f:
        tools = next(it["tools"] for it in map(json.loads, f) if it["tools"])
    for extra in ([], ["--no-spell"]):
        p, port = serve(extra)
        try:
            for text, name, arg, meant in CASES:
                st, got = calls(port, tools, text)
                check("%s: 200" % text, st == 200, got)
                said = [a.get(arg) for n, a in got if n == name]
                if extra:
                    check("--no-spell: %r cannot name %r (%s)" % (text, meant, got), meant not in said, got)
                else:
                    check("%r -> %s %s=%r (%s)" % (text, name, arg, meant, got), said == [meant], got)
        finally:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    # `hearth chat` mends what is typed too, and says what the model read
    for extra in ([], ["--no-spell"]):
        r = subprocess.run([HEARTH, "chat", "--model", MODEL, "--prompt", "set a tmier for ten minutes",
                            "--max-tokens", "1", "--threads", "2"] + extra,
                           capture_output=True, text=True, timeout=60)
        said = "(read as: set a timer for ten minutes)" in r.stderr
        check("hearth chat %s: %s" % (" ".join(extra), "read as mended" if said else "as typed"),
              r.returncode == 0 and said == (not extra), r.stderr)
    with open(MODEL, "rb") as f:
        data = f.read()
    with tempfile.TemporaryDirectory() as tmp:
        broken = os.path.join(tmp, "broken.gguf")
        with open(broken, "wb") as f:
            f.write(data.replace(b"hearth.lexicon.words", b"hearth.lexicon.wordz", 1))
        r = subprocess.run([HEARTH, "bench", "tools", "--model", broken, "--threads", "2"],
                           capture_output=True, text=True, timeout=60)
        check("a lexicon without its words is refused at load (%s)" % r.stderr.strip()[:160],
              r.returncode != 0 and "hearth.lexicon.counts" in r.stderr, r.stderr)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
