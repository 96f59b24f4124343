"""chatml.py — render conversations in ChatML with Hermes-style tool calls.

This is the text format the C engine renders for ChatML models (Qwen2.5,
SmolLM2, and Hearth's own embedded model), so a model trained on what this
file produces sees exactly what the engine will feed it:

    <|im_start|>system
    {system}

    # Tools

    You may call one or more functions to assist with the user query.

    You are provided with function signatures within <tools></tools> XML tags:
    <tools>
    {one tool JSON per line}
    </tools>

    For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:
    <tool_call>
    {"name": <function-name>, "arguments": <args-json-object>}
    </tool_call><|im_end|>
    <|im_start|>user
    ...<|im_end|>
    <|im_start|>assistant
    <tool_call>
    {"name": "set_timer", "arguments": {"duration_seconds": 300}}
    </tool_call><|im_end|>
    <|im_start|>user
    <tool_response>
    {"ok": true}
    </tool_response><|im_end|>
    <|im_start|>assistant
    Timer set for 5 minutes.<|im_end|>

JSON is serialized like Python's json.dumps with default separators
(", " and ": "), keys in the order given, ASCII only — the same bytes Qwen's
jinja `tojson` produces.

Messages are dicts in the OpenAI shape: {"role", "content"} plus, for an
assistant turn that calls tools, "tool_calls": [{"name", "arguments"}] (the
arguments as an object, not a string); role "tool" carries a tool result.
Consecutive tool results share one user turn, each in its own
<tool_response> block, as Qwen2.5's template does.

render() returns a list of (text, trainable) segments: assistant content and
its closing <|im_end|> are trainable, everything else (the prompt) is not.
"""

import json

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
ENDOFTEXT = "<|endoftext|>"

# Control tokens (never produced by plain text) and user-defined tokens
# (markup that appears in text and should cost one token each).
CONTROL_TOKENS = [ENDOFTEXT, IM_START, IM_END]
USER_DEFINED_TOKENS = ["<tool_call>", "</tool_call>", "<tools>", "</tools>",
                       "<tool_response>", "</tool_response>"]

TOOLS_HEADER = (
    "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>")
TOOLS_FOOTER = (
    "\n</tools>\n\nFor each function call, return a json object with function name and "
    "arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
    "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call>")

def chat_template(default_system=""):
    """ChatML as Jinja (tokenizer.chat_template); with default_system, a
    conversation that does not start with a system message gets it first,
    as the engine does from hearth.chat.default_system_prompt."""
    head = ""
    if default_system:
        quoted = default_system.replace("\\", "\\\\").replace("'", "\\'")
        head = ("{% if not messages or messages[0]['role'] != 'system' %}"
                "{{ '<|im_start|>system\\n" + quoted + "<|im_end|>\\n' }}{% endif %}")
    return head + (
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
        "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


def dumps(obj):
    """JSON exactly as the engine and Qwen's tojson write it."""
    return json.dumps(obj, ensure_ascii=True)


def shown(obj):
    """What the model is shown of a tool: keys named x-hearth-... are
    directives to the engine's JSON guard (x-hearth-verbatim), dropped when
    rendering, as engine/chat.c drops them."""
    if isinstance(obj, dict):
        return {k: shown(v) for k, v in obj.items() if not k.startswith("x-hearth-")}
    if isinstance(obj, list):
        return [shown(v) for v in obj]
    return obj


def tool_block_tokens(tools):
    """The texts a tokenizer may carry as user-defined tokens so that the
    Hermes tool block of these tools costs a few tokens instead of ~1,100:
    the fixed header and footer, and each tool's JSON line exactly as
    system_text() writes it. The engine cuts user-defined tokens out of any
    text before BPE, so it produces the same ids when it renders the same
    tools; other tools are tokenized byte by byte as usual."""
    return [TOOLS_HEADER, TOOLS_FOOTER] + [dumps(shown(t)) for t in tools]


def system_text(system, tools):
    """System turn content: the prompt plus the Hermes tool block if any tools."""
    if not tools:
        return system
    lines = "".join("\n" + dumps(shown(t)) for t in tools)
    return system + TOOLS_HEADER + lines + TOOLS_FOOTER


def tool_call_text(calls):
    """Assistant content for one or more tool calls."""
    return "\n".join("<tool_call>\n" + dumps({"name": c["name"], "arguments": c["arguments"]})
                     + "\n</tool_call>" for c in calls)


def render(messages, tools=None, add_generation_prompt=False):
    """Render messages; returns [(text, trainable)] segments.

    The first message must be the system turn. A trailing generation prompt
    ("<|im_start|>assistant\\n") is appended when add_generation_prompt is set.
    """
    segs = []
    i = 0
    while i < len(messages):
        m = messages[i]
        role = m["role"]
        if role == "system":
            segs.append((IM_START + "system\n" + system_text(m["content"], tools) + IM_END + "\n", False))
        elif role == "user":
            segs.append((IM_START + "user\n" + m["content"] + IM_END + "\n", False))
        elif role == "assistant":
            body = m.get("content") or ""
            if m.get("tool_calls"):
                body = (body + "\n" if body else "") + tool_call_text(m["tool_calls"])
            segs.append((IM_START + "assistant\n", False))
            segs.append((body + IM_END, True))
            segs.append(("\n", False))
        elif role == "tool":
            blocks = []
            while i < len(messages) and messages[i]["role"] == "tool":
                blocks.append("<tool_response>\n" + messages[i]["content"] + "\n</tool_response>")
                i += 1
            segs.append((IM_START + "user\n" + "\n".join(blocks) + IM_END + "\n", False))
            continue
        else:
            raise ValueError("unknown role %r" % role)
        i += 1
    if add_generation_prompt:
        segs.append((IM_START + "assistant\n", False))
    return segs


def render_text(messages, tools=None, add_generation_prompt=False):
    return "".join(t for t, _ in render(messages, tools, add_generation_prompt))
