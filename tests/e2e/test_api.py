#!/usr/bin/python3
"""e2e: the OpenAI-compatible HTTP API and the realtime WebSocket of the real
`hearth serve`, over 127.0.0.1, with a random-weight qwen2 model written by
scripts/make_test_model.py (ChatML vocabulary). A random model writes
gibberish, so the checks are about protocol shapes, ids, ordering, limits
and survival, not about what the text says.

Skips (exit 77) when python3-websockets is missing. Every wait is bounded.
"""
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

from loopback import free_port, http, wait_health

try:
    import websockets
except ImportError:
    print("SKIP: python3-websockets is not installed (apt-get install python3-websockets)")
    sys.exit(77)

SRC = os.environ.get("HEARTH_SRC", os.path.join(os.path.dirname(__file__), "../.."))
BUILD = os.environ["HEARTH_BUILD"]
HEARTH = os.path.join(BUILD, "app", "hearth")
fails = 0


def check(name, ok, detail=""):
    global fails
    print(("ok: " if ok else "FAIL: ") + name + ("" if ok else "  " + str(detail)[:400]))
    if not ok:
        fails += 1


def chat(**kw):
    b = {"model": "x", "messages": [{"role": "user", "content": "turn on the light"}],
         "max_tokens": 6, "seed": 7}
    b.update(kw)
    return b


# ---------------------------------------------------------------------------
def test_http(port):
    st, body, _ = http(port, "POST", "/v1/chat/completions", chat())
    d = json.loads(body) if st == 200 else {}
    check("chat: 200 with one choice", st == 200 and len(d.get("choices", [])) == 1, body)
    if st == 200:
        u = d["usage"]
        check("chat: usage adds up", u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
              and 1 <= u["completion_tokens"] <= 6, u)
        check("chat: timings present", d["timings"]["ttft_ms"] > 0, d.get("timings"))
        check("chat: finish_reason", d["choices"][0]["finish_reason"] in ("stop", "length"), d)
    # same seed, same conversation → same text (sampling is seeded); the
    # second run reuses the KV prefix of the first
    st2, body2, _ = http(port, "POST", "/v1/chat/completions", chat())
    d2 = json.loads(body2) if st2 == 200 else {}
    check("chat: seed makes it reproducible",
          st2 == 200 and d2["choices"][0]["message"]["content"] == d["choices"][0]["message"]["content"])
    check("chat: KV prefix reused", st2 == 200 and d2["usage"]["prompt_tokens_details"]["cached_tokens"] > 0,
          d2.get("usage"))

    # streaming
    st, body, hdr = http(port, "POST", "/v1/chat/completions", chat(stream=True,
                         stream_options={"include_usage": True}))
    frames = [l[6:] for l in body.split("\n") if l.startswith("data: ")]
    check("stream: text/event-stream", st == 200 and "text/event-stream" in hdr.get("content-type", ""))
    check("stream: ends with [DONE]", frames and frames[-1] == "[DONE]", frames[-2:])
    chunks = [json.loads(f) for f in frames[:-1]]
    check("stream: first chunk has the role", chunks and chunks[0]["choices"][0]["delta"].get("role") == "assistant")
    fin = [c for c in chunks if c.get("choices") and c["choices"][0]["finish_reason"]]
    check("stream: one finish chunk with timings", len(fin) == 1 and "timings" in fin[0], fin)
    check("stream: usage chunk", "usage" in chunks[-1] and chunks[-1]["choices"] == [], chunks[-1])

    # stop string: generate once, then stop at a piece of what came out
    st, body, _ = http(port, "POST", "/v1/chat/completions", chat(max_tokens=12, seed=3))
    text = json.loads(body)["choices"][0]["message"]["content"] if st == 200 else ""
    if len(text) >= 6:
        stop = text[3:6]
        st, body, _ = http(port, "POST", "/v1/chat/completions", chat(max_tokens=12, seed=3, stop=[stop]))
        d = json.loads(body)
        check("stop: text cut before the stop string",
              d["choices"][0]["message"]["content"] == text[:text.index(stop)] and
              d["choices"][0]["finish_reason"] == "stop", (text, stop, d["choices"]))

    # tools: a named tool_choice forces the call's opening; the random model
    # then writes broken JSON, which must come back as text, never dropped
    tools = [{"type": "function", "function": {"name": "set_light", "description": "switch a light",
              "parameters": {"type": "object", "properties": {"entity": {"type": "string"}}}}}]
    st, body, _ = http(port, "POST", "/v1/chat/completions", chat(
        tools=tools, tool_choice={"type": "function", "function": {"name": "set_light"}}))
    d = json.loads(body) if st == 200 else {}
    msg = d.get("choices", [{}])[0].get("message", {})
    ok = st == 200 and (msg.get("tool_calls") or
                        (msg.get("content") or "").startswith('<tool_call>\n{"name": "set_light"'))
    check("tools: forced call is a call or comes back as text", ok, body)
    # a tool round trip: assistant tool_calls + tool result in the history
    hist = [{"role": "user", "content": "light on"},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function",
             "function": {"name": "set_light", "arguments": "{\"entity\":\"light.kitchen\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "{\"ok\":true}"}]
    st, body, _ = http(port, "POST", "/v1/chat/completions", chat(messages=hist, tools=tools))
    check("tools: result fed back is accepted", st == 200, body)

    # constrained decoding: a random model knows no JSON, yet the guarded
    # call it is forced into is a whole, schema-valid call, closed by its tag
    short = [{"type": "function", "function": {"name": "set_light", "parameters": {
        "type": "object", "properties": {"entity": {"type": "string", "maxLength": 12},
                                         "level": {"type": "integer"}}, "required": ["entity"]}}}]
    # (temperature 0: greedy, so the server's lookahead follows the close
    # choices to the end of the value and back: still a valid call)
    for seed, temp in ((1, 1.0), (2, 1.0), (3, 1.0), (4, 0.0)):
        st, body, _ = http(port, "POST", "/v1/chat/completions", chat(
            tools=short, tool_choice="required", max_tokens=200, seed=seed, temperature=temp))
        d = json.loads(body) if st == 200 else {}
        calls = d.get("choices", [{}])[0].get("message", {}).get("tool_calls") or []
        try:
            args = json.loads(calls[0]["function"]["arguments"])
            ok = (calls[0]["function"]["name"] == "set_light" and "entity" in args and
                  set(args) <= {"entity", "level"} and isinstance(args["entity"], str) and
                  len(args["entity"]) <= 12 and isinstance(args.get("level", 0), int))
        except (IndexError, KeyError, ValueError, TypeError):
            ok = False
        check(f"guard: a random model's required call is schema-valid (seed {seed}, T {temp})", ok, body)

    # x-hearth-verbatim: the random model's argument is whole words of what
    # the user said (and the keyword is the guard's, accepted by the server)
    said = "please switch on the Lamp in the reading nook, it's dark"
    verb = [{"type": "function", "function": {"name": "set_light", "parameters": {
        "type": "object", "properties": {"entity": {"type": "string", "x-hearth-verbatim": True}},
        "required": ["entity"]}}}]
    for seed, temp in ((1, 1.0), (2, 1.0), (3, 1.0), (4, 0.0)):
        st, body, _ = http(port, "POST", "/v1/chat/completions", chat(
            messages=[{"role": "user", "content": said}], tools=verb, tool_choice="required",
            max_tokens=200, seed=seed, temperature=temp))
        d = json.loads(body) if st == 200 else {}
        calls = d.get("choices", [{}])[0].get("message", {}).get("tool_calls") or []
        try:
            ent = json.loads(calls[0]["function"]["arguments"])["entity"]
            # byte for byte, but the first letter in either case
            first = "[%s%s]" % (ent[0].lower(), ent[0].upper()) if ent[:1].isalpha() else re.escape(ent[:1])
            ok = bool(re.fullmatch(r"[A-Za-z0-9].*[A-Za-z0-9]|[A-Za-z0-9]", ent)) and re.search(
                r"(?<![A-Za-z0-9'])" + first + re.escape(ent[1:]) + r"(?![A-Za-z0-9'])", said) is not None
        except (IndexError, KeyError, ValueError, TypeError):
            ok = False
        check(f"guard: a verbatim argument is whole words of the user's turn (seed {seed}, T {temp})", ok, body)

    # response_format: the whole reply is one value of the schema, then it ends
    schema = {"type": "object", "properties": {"people": {"type": "array", "maxItems": 3, "items": {
        "type": "string", "maxLength": 10}}}, "required": ["people"]}
    for seed in (5, 6):
        st, body, _ = http(port, "POST", "/v1/chat/completions", chat(
            response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": schema}},
            max_tokens=300, seed=seed, temperature=1.0))
        d = json.loads(body) if st == 200 else {}
        ch = d.get("choices", [{}])[0]
        try:
            v = json.loads(ch["message"]["content"])
            ok = (ch["finish_reason"] == "stop" and isinstance(v, dict) and set(v) == {"people"} and
                  all(isinstance(x, str) and len(x) <= 10 for x in v["people"]))
        except (KeyError, ValueError, TypeError):
            ok = False
        check(f"response_format json_schema: the reply is one valid value, then stop (seed {seed})",
              ok, body)
    # json_object: a free object's bounds (64 keys of 256 characters) are
    # more than a random model's token budget here; it must open an object
    # and, if it finishes, be one
    st, body, _ = http(port, "POST", "/v1/chat/completions", chat(
        response_format={"type": "json_object"}, max_tokens=60, seed=5, temperature=1.0))
    d = json.loads(body) if st == 200 else {}
    ch = d.get("choices", [{}])[0]
    text = (ch.get("message") or {}).get("content") or ""
    try:
        ok = text.lstrip().startswith("{") and (ch["finish_reason"] != "stop" or
                                                isinstance(json.loads(text), dict))
    except (KeyError, ValueError):
        ok = False
    check("response_format json_object: the reply is an object", ok, body)


def test_http_errors(port):
    def err(st, body, want, param=None):
        try:
            e = json.loads(body)["error"]
            return st == want and set(e) >= {"message", "type", "param", "code"} and \
                (param is None or e["param"] == param)
        except Exception:
            return False
    cases = [
        ("malformed JSON", None, b'{"messages": [', 400, None),
        ("not an object", None, b'[1,2]', 400, None),
        ("invalid UTF-8", None, b'{"messages":[{"role":"user","content":"\xff\xfe"}]}', 400, None),
        ("deep nesting", None, b'{"a":' * 200 + b'1' + b'}' * 200, 400, None),
        ("empty body", None, b'', 400, None),
        ("missing messages", {"model": "x"}, None, 400, "messages"),
        ("wrong type", chat(max_tokens="many"), None, 400, "max_tokens"),
        ("bad role", chat(messages=[{"role": "robot", "content": "x"}]), None, 400, "messages.role"),
        ("unknown field", chat(frobnicate=1), None, 400, "frobnicate"),
        ("temperature range", chat(temperature=9), None, 400, "temperature"),
        ("required without tools", chat(tool_choice="required"), None, 400, "tool_choice"),
        ("response_format type", chat(response_format={"type": "xml"}), None, 400, "response_format"),
        ("json_schema without schema", chat(response_format={"type": "json_schema", "json_schema": {}}),
         None, 400, "response_format"),
        ("image part", chat(messages=[{"role": "user", "content": [{"type": "image_url",
          "image_url": {"url": "data:,"}}]}]), None, 400, "messages.content.type"),
    ]
    for name, body, raw, want, param in cases:
        st, out, _ = http(port, "POST", "/v1/chat/completions", body, raw=raw)
        check(f"error: {name} → {want}", err(st, out, want, param), (st, out))
    st, out, _ = http(port, "POST", "/v1/chat/completions", raw=b'{"x":"' + b'a' * (1 << 20) + b'"}')
    check("error: body over 1 MiB → 413", err(st, out, 413), (st, out[:200]))
    st, out, _ = http(port, "GET", "/v1/chat/completions")
    check("error: GET on a POST route → 405", err(st, out, 405), (st, out))
    st, out, _ = http(port, "GET", "/v1/nope")
    check("error: unknown route → 404", err(st, out, 404), (st, out))


def test_metrics(port):
    st, body, hdr = http(port, "GET", "/metrics")
    check("metrics: Prometheus text", st == 200 and "text/plain" in hdr.get("content-type", "") and
          'hearth_http_requests_total{route="/v1/chat/completions",status="200"}' in body and
          "hearth_ttft_seconds_bucket" in body and "hearth_tokens_out_total" in body, body[:300])


# ---------------------------------------------------------------------------
async def recv_until(ws, types, limit=400, timeout=60):
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < limit:
        ev = json.loads(await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic())))
        got.append(ev)
        if ev["type"] in types:
            break
    return got


async def rt_connect(port):
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/v1/realtime", max_size=None)
    first = json.loads(await asyncio.wait_for(ws.recv(), 10))
    return ws, first


async def user_text(ws, text, evt="c1"):
    await ws.send(json.dumps({"type": "conversation.item.create", "event_id": evt, "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}}))
    return await recv_until(ws, {"conversation.item.done", "error"})


async def rt_turn(ws, **resp):
    await ws.send(json.dumps({"type": "response.create", "response": resp}))
    return await recv_until(ws, {"response.done"})


async def test_realtime(port):
    ws, first = await rt_connect(port)
    check("rt: session.created first, with event_id", first["type"] == "session.created" and
          first.get("event_id") and first["session"]["id"], first)
    await ws.send(json.dumps({"type": "session.update", "event_id": "u1", "session": {
        "type": "realtime", "instructions": "You are a home assistant.", "max_output_tokens": 6,
        "tools": [{"type": "function", "name": "set_light", "description": "switch a light",
                   "parameters": {"type": "object", "properties": {"entity": {"type": "string"}}}}],
        "tool_choice": "auto"}}))
    ev = await recv_until(ws, {"session.updated", "error"})
    check("rt: session.updated echoes the config", ev[-1]["type"] == "session.updated" and
          ev[-1]["session"]["instructions"] == "You are a home assistant." and
          ev[-1]["session"]["tools"][0]["name"] == "set_light", ev[-1])
    ev = await user_text(ws, "turn on the kitchen light")
    check("rt: item.added then item.done", [e["type"] for e in ev] ==
          ["conversation.item.added", "conversation.item.done"], [e["type"] for e in ev])
    user_item = ev[0]["item"]["id"]
    ev = await rt_turn(ws)
    types = [e["type"] for e in ev]
    check("rt: every server event has an event_id", all(e.get("event_id") for e in ev))
    check("rt: response.created first, response.done last", types[0] == "response.created" and
          types[-1] == "response.done", types)
    done = ev[-1]["response"]
    check("rt: response.done has status, usage and timings", done["status"] in ("completed", "incomplete")
          and done["usage"]["output_tokens"] >= 1 and "timings" in done, done)
    deltas = "".join(e["delta"] for e in ev if e["type"] == "response.output_text.delta")
    tdone = [e for e in ev if e["type"] == "response.output_text.done"]
    check("rt: text deltas add up to output_text.done", tdone and tdone[0]["text"] == deltas, (deltas, tdone))
    order = [t for t in types if t in ("response.output_item.added", "response.content_part.added",
             "response.output_text.done", "response.content_part.done", "response.output_item.done")]
    check("rt: item/part events in order", order[:5] == ["response.output_item.added",
          "response.content_part.added", "response.output_text.done", "response.content_part.done",
          "response.output_item.done"] or any(t == "response.function_call_arguments.done" for t in types), types)

    # tool round trip: a function_call_output item and a follow-up response
    await ws.send(json.dumps({"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": "call_x", "output": "{\"ok\":true}"}}))
    ev = await recv_until(ws, {"conversation.item.done", "error"})
    check("rt: function_call_output accepted", ev[-1]["type"] == "conversation.item.done" and
          ev[-1]["item"]["type"] == "function_call_output", ev[-1])
    ev = await rt_turn(ws)
    check("rt: follow-up response completes", ev[-1]["type"] == "response.done", ev[-1])
    check("rt: the session's KV prefix is reused",
          ev[-1]["response"]["usage"]["input_token_details"]["cached_tokens"] > 0, ev[-1]["response"]["usage"])

    # forced call through tool_choice: a call, or broken JSON as text
    ev = await rt_turn(ws, tool_choice={"type": "function", "name": "set_light"}, max_output_tokens=8)
    calls = [e for e in ev if e["type"] == "response.function_call_arguments.done"]
    text = "".join(e["delta"] for e in ev if e["type"] == "response.output_text.delta")
    check("rt: forced call is a call or text starting with it",
          calls or text.startswith('<tool_call>\n{"name": "set_light"'), (text, [e["type"] for e in ev]))

    # cancel mid-stream; a random model sometimes ends its reply within a few
    # tokens, before the cancel arrives (which then gets an error event):
    # then ask again, at most 5 replies
    for _ in range(5):
        await ws.send(json.dumps({"type": "response.create", "response": {"max_output_tokens": 4000}}))
        ev = await recv_until(ws, {"response.output_text.delta", "response.done"})
        if ev[-1]["type"] == "response.done":
            continue
        await ws.send(json.dumps({"type": "response.cancel"}))
        ev += await recv_until(ws, {"response.done"})
        if ev[-1]["response"]["status"] == "cancelled":
            break
        await recv_until(ws, {"error"})
    check("rt: cancel → response.done cancelled", ev[-1]["response"]["status"] == "cancelled" and
          ev[-1]["response"]["status_details"]["reason"] == "client_cancelled", ev[-1]["response"].get("status"))

    # delete an item, then delete it again (error with param and event_id)
    await ws.send(json.dumps({"type": "conversation.item.delete", "item_id": user_item}))
    ev = await recv_until(ws, {"conversation.item.deleted", "error"})
    check("rt: item deleted", ev[-1]["type"] == "conversation.item.deleted" and ev[-1]["item_id"] == user_item, ev[-1])
    await ws.send(json.dumps({"type": "conversation.item.delete", "item_id": user_item, "event_id": "d2"}))
    ev = await recv_until(ws, {"error"})
    e = ev[-1]["error"]
    check("rt: unknown item → error with param and event_id", e["code"] == "item_not_found" and
          e["param"] == "item_id" and e["event_id"] == "d2", e)

    # malformed input: each answered with an error, the session stays up
    bad = [("not json", "{oops", None), ("no type", json.dumps({"event_id": "e1"}), "type"),
           ("unknown event", json.dumps({"type": "frob.nicate", "event_id": "e2"}), "type"),
           ("wrong type", json.dumps({"type": "session.update", "session": {"temperature": "hot"}}),
            "session.temperature"),
           ("deep JSON", '{"type":"x","a":' + "[" * 100 + "]" * 100 + "}", None),
           ("bad item", json.dumps({"type": "conversation.item.create", "item": {"type": "message",
            "role": "user", "content": "not a list"}}), "item.content"),
           ("audio not yet", json.dumps({"type": "input_audio_buffer.append", "audio": "AAAA"}), "type")]
    for name, msg, param in bad:
        await ws.send(msg)
        ev = await recv_until(ws, {"error"}, timeout=10)
        check(f"rt: {name} → error event", ev[-1]["type"] == "error" and
              (param is None or ev[-1]["error"]["param"] == param), ev[-1])
    await ws.send(b"\x00\x01binary")
    ev = await recv_until(ws, {"error"}, timeout=10)
    check("rt: binary frame → error event", ev[-1]["error"]["code"] == "binary_not_supported", ev[-1])
    await ws.send("x" * ((1 << 20) + 10))
    ev = await recv_until(ws, {"error"}, timeout=10)
    check("rt: frame over 1 MiB → error event", ev[-1]["error"]["code"] == "message_too_large", ev[-1])
    ev = await user_text(ws, "still there?")
    check("rt: session still works after abuse", ev[-1]["type"] == "conversation.item.done", ev[-1])
    await ws.close()


async def one_session(port, n_turns, max_tokens):
    ws, _ = await rt_connect(port)
    ok = True
    for i in range(n_turns):
        await user_text(ws, f"turn {i}")
        ev = await rt_turn(ws, max_output_tokens=max_tokens)
        ok = ok and ev[-1]["type"] == "response.done" and ev[-1]["response"]["status"] in ("completed", "incomplete")
    await ws.close()
    return ok


async def wait_sessions(port, want):
    # the server counts a session until it reads the client's close, which may
    # still be in flight when the client's close() returns: a test that counts
    # on a free slot waits for the count (bounded) and returns what it saw
    sessions = None
    for _ in range(100):
        st, body, _ = http(port, "GET", "/health")
        sessions = json.loads(body)["sessions"] if st == 200 else None
        if sessions == want:
            break
        await asyncio.sleep(0.1)
    return sessions


async def test_concurrency(port):
    # two sessions interleaved: a long generation and a short one started
    # after it; the short one must finish first (round-robin scheduling)
    a, _ = await rt_connect(port)
    b, _ = await rt_connect(port)
    await user_text(a, "tell a long story")
    await user_text(b, "hi")
    # greedy: the session's sampling seed is the clock, and a random model
    # may draw an end token within its first few
    await a.send(json.dumps({"type": "response.create", "response": {"max_output_tokens": 60,
                                                                      "temperature": 0}}))
    await recv_until(a, {"response.output_text.delta", "response.done"})
    t0 = time.monotonic()
    evb = await rt_turn(b, max_output_tokens=3)
    tb = time.monotonic() - t0
    eva = await recv_until(a, {"response.done"}, limit=2000, timeout=120)
    check("sched: short turn finishes while the long one still runs",
          evb[-1]["type"] == "response.done" and eva[-1]["type"] == "response.done" and
          eva[-1]["response"]["usage"]["output_tokens"] > 3, (tb, eva[-1]["response"]["usage"]))
    await a.close()
    await b.close()

    # a reader that never reads does not block the others
    slow, _ = await rt_connect(port)
    await user_text(slow, "x")
    await slow.send(json.dumps({"type": "response.create", "response": {"max_output_tokens": 40}}))
    # ten concurrent streaming sessions, all complete
    res = await asyncio.wait_for(asyncio.gather(*[one_session(port, 1, 4) for _ in range(9)]), 240)
    check("sched: 9 concurrent sessions + 1 stalled reader all complete", all(res), res)
    # beyond max sessions (10 with the stalled one): an error event, not a hang;
    # the nine finished sessions must be released first (see wait_sessions)
    check("limits: finished sessions are released", await wait_sessions(port, 1) == 1)
    extra = [await rt_connect(port) for _ in range(10)]
    firsts = [f["type"] for _, f in extra]
    check("limits: the 11th session gets an error event", firsts == ["session.created"] * 9 + ["error"]
          and extra[-1][1]["error"]["code"] == "session_limit_reached", firsts)
    for ws, _ in extra:
        await ws.close()
    await slow.close()

    # 200 rapid connect/disconnects
    for i in range(200):
        r, w = await asyncio.open_connection("127.0.0.1", port)
        if i % 2:
            w.write(b"GET /v1/realtime HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        w.close()
    # the storm's closes may still be in flight (see wait_sessions)
    check("limits: closed sessions are released", await wait_sessions(port, 0) == 0)
    # disconnect mid-stream cancels: the job count drops back to zero
    ws, first = await rt_connect(port)
    check("abuse: a new session after the storm is created", first["type"] == "session.created", first)
    await user_text(ws, "x")
    await ws.send(json.dumps({"type": "response.create", "response": {"max_output_tokens": 4000}}))
    await recv_until(ws, {"response.output_text.delta"})
    await ws.close()
    running = None
    for _ in range(50):
        await asyncio.sleep(0.2)
        st, body, _ = http(port, "GET", "/metrics")
        running = [l for l in body.split("\n") if l.startswith("hearth_jobs_running ")]
        st, health, _ = http(port, "GET", "/health")
        if running == ["hearth_jobs_running 0"] and st == 200 and json.loads(health)["sessions"] == 0:
            break
    check("abuse: disconnect mid-stream cancels the generation", running == ["hearth_jobs_running 0"], running)
    check("abuse: /health still answers", st == 200 and json.loads(health)["sessions"] == 0, health)


# ---------------------------------------------------------------------------
# Continuous batching and the shared prefix cache (pipeline/scheduler.c).
LONG_SYSTEM = ("Zebra-striped preamble for the cache test. You are Hearth, the voice of a "
               "family home: you switch lights, set timers, read the weather and tell short "
               "stories. Keep answers brief, kind and in plain sentences; never use lists. "
               "The kitchen, the hall, the garden and the children's room have lights.")


def metric(port, name):
    st, body, _ = http(port, "GET", "/metrics")
    for line in body.split("\n"):
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


async def test_prefix_cache(port):
    # two sessions with the same long system prompt: the second one's first
    # turn copies the KV blocks the first one computed (its own context is
    # fresh, so anything cached came from the shared prefix cache)
    hits0 = metric(port, "hearth_prefix_cache_hit_blocks_total")
    usage = []
    for user in ("turn on the kitchen light", "what is the weather"):
        ws, _ = await rt_connect(port)
        await ws.send(json.dumps({"type": "session.update", "session": {
            "instructions": LONG_SYSTEM, "max_output_tokens": 4, "temperature": 0}}))
        await recv_until(ws, {"session.updated", "error"})
        await user_text(ws, user)
        ev = await rt_turn(ws)
        usage.append(ev[-1]["response"]["usage"] if ev[-1]["type"] == "response.done" else {})
        await ws.close()
    first = usage[0].get("input_token_details", {}).get("cached_tokens")
    second = usage[1].get("input_token_details", {}).get("cached_tokens", 0)
    check("prefix cache: a new session's first turn reuses the system prompt's KV blocks",
          first == 0 and second >= 64 and second % 32 == 0 and
          second < usage[1].get("input_tokens", 0), usage)
    hits1 = metric(port, "hearth_prefix_cache_hit_blocks_total")
    check("prefix cache: /metrics counts the hits", hits0 is not None and hits1 >= hits0 + second // 32,
          (hits0, hits1))
    # an HTTP request with the same system prompt: a pooled context whose
    # history is another conversation still gets the blocks
    st, body, _ = http(port, "POST", "/v1/chat/completions", chat(
        messages=[{"role": "system", "content": LONG_SYSTEM}, {"role": "user", "content": "hello"}],
        max_tokens=2))
    cached = json.loads(body)["usage"]["prompt_tokens_details"]["cached_tokens"] if st == 200 else 0
    check("prefix cache: an HTTP request reports the cached tokens", cached >= 64, body)


def stream_text(port, prompt, out, key):
    """Greedy streaming chat; out[key] = (text, every content chunk stamped)."""
    st, body, _ = http(port, "POST", "/v1/chat/completions", chat(
        messages=[{"role": "user", "content": prompt}], max_tokens=24, temperature=0,
        stream=True), timeout=120)
    chunks = [json.loads(l[6:]) for l in body.split("\n")
              if l.startswith("data: ") and l != "data: [DONE]"]
    text, stamped = "", True
    for c in chunks:
        d = c["choices"][0]["delta"] if c.get("choices") else {}
        if d.get("content"):
            text += d["content"]
            stamped = stamped and isinstance(c.get("hearth", {}).get("t_engine_ns"), int)
    out[key] = (st, text, stamped)


async def test_batching(port):
    prompts = ["switch on the hall light", "set a timer for ten minutes",
               "what is the weather like", "tell me a story about a fox"]
    alone = {}
    for i, p in enumerate(prompts):
        stream_text(port, p, alone, i)
    check("batching: every stream alone completes, chunks stamped with t_engine_ns",
          all(alone[i][0] == 200 and alone[i][1] and alone[i][2] for i in alone), alone)
    # a long generation on a session keeps the scheduler decoding, so every
    # pass while the four streams run holds at least two rows
    ws, _ = await rt_connect(port)
    await user_text(ws, "tell a very long story")
    await ws.send(json.dumps({"type": "response.create", "response": {"max_output_tokens": 4000}}))
    await recv_until(ws, {"response.output_text.delta", "response.done"})
    passes0 = metric(port, "hearth_decode_passes_total")
    rows0 = metric(port, "hearth_decode_rows_total")
    together = {}
    threads = [threading.Thread(target=stream_text, args=(port, p, together, i))
               for i, p in enumerate(prompts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    passes1 = metric(port, "hearth_decode_passes_total")
    rows1 = metric(port, "hearth_decode_rows_total")
    await ws.send(json.dumps({"type": "response.cancel"}))
    await recv_until(ws, {"response.done"}, limit=5000, timeout=120)
    await ws.close()
    # greedy: a token's logits do not depend on the other rows of its batch
    # (engine_eval_multi matches engine_eval to 1e-4, test_batch.c)
    check("batching: 4 concurrent greedy streams give the same text as alone",
          all(together.get(i, (0, None))[1] == alone[i][1] for i in alone),
          [(alone[i][1], together.get(i)) for i in alone])
    check("batching: decode passes evaluated several sessions at once",
          rows1 - rows0 > passes1 - passes0 > 0 and metric(port, "hearth_decode_batch_max") >= 2,
          (passes0, passes1, rows0, rows1))


def prompt_tokens(port, messages):
    st, body, _ = http(port, "POST", "/v1/chat/completions",
                       chat(messages=messages, max_tokens=1, temperature=0))
    return json.loads(body)["usage"]["prompt_tokens"] if st == 200 else (st, body[:200])


def test_system_flag(model, main_port):
    """`serve --system TEXT`: the system prompt of conversations that bring none."""
    sys_text = "You answer in one short sentence and never use tools unless asked."
    user = [{"role": "user", "content": "turn on the light"}]
    own = [{"role": "system", "content": sys_text}] + user
    other = [{"role": "system", "content": "Hi."}] + user
    port = free_port()
    log = tempfile.TemporaryFile("w+")
    srv = start_server(model, port, log, "--ctx", "512", "--system", sys_text)
    try:
        a, b, c = prompt_tokens(port, user), prompt_tokens(port, own), prompt_tokens(port, other)
        check("--system: a conversation without a system message gets it", a == b, (a, b))
        check("--system: a conversation's own system message wins", c != b, (b, c))
        plain = prompt_tokens(main_port, user)
        check("without --system (and no model default) no system turn is added",
              isinstance(plain, int) and plain < a, (plain, a))
    finally:
        stop_server(srv, log, "--system server")


def start_server(model, port, log, *flags):
    """`hearth serve` on 127.0.0.1:port, once /health answers (at most ~10 s)."""
    srv = subprocess.Popen([HEARTH, "serve", "--listen", f"127.0.0.1:{port}", "--model", model]
                           + list(flags), stderr=log)
    wait_health(srv, port, 100)
    return srv


def stop_server(srv, log, name):
    """SIGTERM; the server must exit 0 with no sanitizer report in its log."""
    srv.terminate()
    try:
        rc = srv.wait(30)
    except subprocess.TimeoutExpired:
        srv.kill()
        rc = -9
    check(name + " exits 0 on SIGTERM (ASan/LSan clean)", rc == 0, rc)
    log.seek(0)
    out = log.read()
    if rc != 0 or "ERROR: AddressSanitizer" in out or "runtime error" in out:
        print(out[-4000:])
        check(name + ": no sanitizer reports", False)


def main():
    tmp = tempfile.mkdtemp(prefix="hearth-api-")
    model = os.path.join(tmp, "qwen2-q8")
    r = subprocess.run([os.environ.get("HEARTH_PYTHON", "/usr/bin/python3"),
                        os.path.join(SRC, "scripts/make_test_model.py"), "--arch", "qwen2",
                        "--type", "Q8_0", "--out", model], capture_output=True, text=True, timeout=120)
    if r.returncode:
        print("SKIP: cannot write the test model:", r.stderr[-500:])
        return 77
    port = free_port()
    log = open(os.path.join(tmp, "serve.log"), "w+")
    srv = start_server(model + ".gguf", port, log, "--ctx", "1024")
    try:
        test_http(port)
        test_http_errors(port)
        asyncio.run(test_realtime(port))
        asyncio.run(test_concurrency(port))
        asyncio.run(test_prefix_cache(port))
        asyncio.run(test_batching(port))
        test_metrics(port)
        test_system_flag(model + ".gguf", port)
    finally:
        stop_server(srv, log, "server")
    print(f"{fails} failure(s)")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
