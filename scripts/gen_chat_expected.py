#!/usr/bin/env python3
"""Reference renderings for tests/engine/test_chat.c: Qwen2.5's own chat
template (tokenizer.chat_template of the shared ggml-vocab-qwen2.gguf),
rendered the way HF transformers does it (jinja2 sandbox, trim_blocks,
lstrip_blocks, tojson = json.dumps(x, ensure_ascii=False)).

Our ChatML default system prompt is "You are a helpful assistant." where
Qwen's says "You are Qwen, created by Alibaba Cloud. ...", so that sentence
is substituted in the template text before rendering.

Needs jinja2 (the pyenv python3 has it; /usr/bin/python3 does not):
    python3 scripts/gen_chat_expected.py [path/to/ggml-vocab-qwen2.gguf]
Prints each case as a C string literal.
"""
import json
import os
import struct
import sys

from jinja2.sandbox import ImmutableSandboxedEnvironment


def gguf_string_kv(path, want):
    """The string value of key `want` in a GGUF v3 file."""
    with open(path, 'rb') as f:
        def rd(fmt):
            return struct.unpack('<' + fmt, f.read(struct.calcsize('<' + fmt)))

        def rstr():
            n, = rd('Q')
            return f.read(n)

        sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

        def skip(t):
            if t == 8:
                rstr()
            elif t == 9:
                at, n = rd('I')[0], rd('Q')[0]
                for _ in range(n):
                    skip(at)
            else:
                f.read(sizes[t])

        assert f.read(4) == b'GGUF'
        _, _, n_kv = rd('IQQ')
        for _ in range(n_kv):
            key = rstr().decode()
            t, = rd('I')
            if key == want and t == 8:
                return rstr().decode()
            skip(t)
    raise KeyError(want)


def c_literal(s):
    out = []
    for ch in s:
        if ch == '\\':
            out.append('\\\\')
        elif ch == '"':
            out.append('\\"')
        elif ch == '\n':
            out.append('\\n"\n\t"')
        else:
            out.append(ch)
    return '"' + ''.join(out) + '"'


TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather",
    "parameters": {"type": "object",
                   "properties": {"city": {"type": "string"},
                                  "unit": {"type": "string", "enum": ["c", "f"]}},
                   "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "set_timer", "description": "Start a timer (minutes)",
        "parameters": {"type": "object",
                       "properties": {"minutes": {"type": "number"}}}}}]

CASES = {
    'plain': dict(messages=[
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Weather?"}], tools=None),
    'tools_no_system': dict(messages=[
        {"role": "user", "content": "Weather in Paris?"}], tools=TOOLS),
    'tools_round_trip': dict(messages=[
        {"role": "system", "content": "You are Hearth."},
        {"role": "user", "content": "Weather in Paris and a 5 minute timer"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "get_weather",
                                              "arguments": {"city": "Paris", "unit": "c"}}},
            {"type": "function", "function": {"name": "set_timer",
                                              "arguments": {"minutes": 5}}}]},
        {"role": "tool", "content": "{\"temp\": 21}"},
        {"role": "tool", "content": "timer set"},
        {"role": "assistant", "content": "It is 21 \u00b0C; timer running."},
        {"role": "user", "content": "Thanks"},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"type": "function", "function": {"name": "get_weather",
                                              "arguments": {"city": "Z\u00fcrich \"old\""}}}]},
        {"role": "tool", "content": "rain"}], tools=TOOLS),
}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        here, '..', '..', 'shared', 'models', 'vocab', 'ggml-vocab-qwen2.gguf')
    tmpl = gguf_string_kv(path, 'tokenizer.chat_template').replace(
        'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.',
        'You are a helpful assistant.')
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters['tojson'] = lambda x, **kw: json.dumps(x, ensure_ascii=False)
    t = env.from_string(tmpl)
    for name, case in CASES.items():
        s = t.render(add_generation_prompt=True, **case)
        print('/* %s */\n%s;\n' % (name, c_literal(s)))


if __name__ == '__main__':
    main()
