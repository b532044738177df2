"""Render a chat request (messages + tools) into one prompt string for a local chat model.

When the model's chat template handles tools (its Jinja source mentions ``tools``), the template is
used as is: ``apply_chat_template(messages, tools=..., add_generation_prompt=True)``.

Otherwise (SmolLM2-135M-Instruct's template is plain ChatML without tools) evalkit appends this
documented block to the system message (a system message is created when the request has none)::

    {system message}

    # Tools
    Functions you may call, one JSON signature a line:
    <tools>
    {"name": "get_current_stock_price", "parameters": {"type": "object", "properties": {}}}
    </tools>
    To answer without calling a function, reply with:
    <reply>
    <your message>
    To call functions, reply with one block per call:
    <tool_call>
    {"name": <function-name>, "arguments": <arguments-json-object>}
    </tool_call>

Each line inside ``<tools>`` is the tool's ``function`` object exactly as the variant sends it
(``json.dumps`` with default separators), so full and short definitions differ in the prompt exactly
as they do on the OpenAI wire. Assistant turns that made calls are rendered as ``<tool_call>``
blocks, plain answers (when tools are offered) as a ``<reply>`` block, and ``tool`` results as
``<tool_response>`` blocks in a ``tool`` turn, the same shapes that
LoRA training (`evalkit.finetune.local`) writes, so training and inference prompts agree token for
token.

Why an explicit ``<reply>`` marker: the answer then opens with a choice between two equally
documented forms, ``<tool_call>`` or ``<reply>``, as llama.cpp's function-calling formats do. Under
guided decoding (`local_grammar`) that choice is the model's whole decision, made on comparable
terms; without a marker for replies, a model never trained on the format would always write prose
first, and guided decoding would never show whether it would call.
"""
from __future__ import annotations

import json
from typing import Any, Iterable, Mapping, Sequence

TOOLS_HEADER = "# Tools\nFunctions you may call, one JSON signature a line:\n<tools>\n"
REPLY_TAG = "<reply>"
CALL_TAG = "<tool_call>"  # opens each call block; the answer opens with one of the two tags
TOOLS_FOOTER = ("\n</tools>\nTo answer without calling a function, reply with:\n" + REPLY_TAG
                + "\n<your message>\nTo call functions, reply with one block per call:\n<tool_call>\n"
                '{"name": <function-name>, "arguments": <arguments-json-object>}\n</tool_call>')


def template_supports_tools(tokenizer: Any) -> bool:
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, dict):  # named templates
        template = template.get("tool_use") or template.get("default")
    return isinstance(template, str) and "tools" in template


def tools_block(tools: Iterable[Mapping[str, Any]]) -> str:
    lines = [json.dumps(_function_of(t), ensure_ascii=False) for t in tools]
    return TOOLS_HEADER + "\n".join(lines) + TOOLS_FOOTER


def format_call(name: str, arguments: Any) -> str:
    """One call as the model is taught to write it. `arguments` may be a dict or JSON text."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            pass
    return CALL_TAG + "\n" + json.dumps({"name": name, "arguments": arguments},
                                        ensure_ascii=False) + "\n</tool_call>"


def format_reply(content: str) -> str:
    """A plain answer as the model is taught to write it when tools are offered."""
    return f"{REPLY_TAG}\n{content}"


def assistant_text(message: Mapping[str, Any], *, tools: bool = True) -> str:
    """An assistant message (OpenAI shape: `tool_calls`, legacy `function_call`, or `content`)
    as the model's own text; with `tools` offered, an answer without calls is a reply block."""
    if tools and message.get("content") and not message.get("tool_calls") and not message.get("function_call"):
        return format_reply(str(message["content"]))
    parts: list[str] = []
    if message.get("content"):
        parts.append(str(message["content"]))
    for call in message.get("tool_calls") or ():
        fn = call.get("function", call)
        parts.append(format_call(fn["name"], fn.get("arguments", {})))
    if message.get("function_call"):
        fc = message["function_call"]
        parts.append(format_call(fc["name"], fc.get("arguments", {})))
    return "\n".join(parts)


def plain_messages(messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]]
                   ) -> list[dict[str, str]]:
    """Messages with string contents only, the tools block in the system message."""
    out: list[dict[str, str]] = []
    for m in messages:
        role = m.get("role", "user")
        if role == "assistant":
            out.append({"role": "assistant", "content": assistant_text(m, tools=bool(tools))})
        elif role in ("tool", "function"):
            out.append({"role": "tool",
                        "content": f"<tool_response>\n{_content_text(m.get('content'))}\n</tool_response>"})
        else:
            out.append({"role": role, "content": _content_text(m.get("content"))})
    if tools:
        block = tools_block(tools)
        if out and out[0]["role"] == "system":
            system = out[0]["content"]
            out[0] = {"role": "system", "content": f"{system}\n\n{block}" if system else block}
        else:
            out.insert(0, {"role": "system", "content": block})
    return out


def render_prompt(tokenizer: Any, messages: Sequence[Mapping[str, Any]],
                  tools: Sequence[Mapping[str, Any]] = ()) -> str:
    """The full prompt text, ending with the assistant generation prefix."""
    if tools and template_supports_tools(tokenizer):
        return tokenizer.apply_chat_template([dict(m) for m in messages], tools=[dict(t) for t in tools],
                                             add_generation_prompt=True, tokenize=False)
    return tokenizer.apply_chat_template(plain_messages(messages, tools), add_generation_prompt=True,
                                         tokenize=False)


def _function_of(tool: Mapping[str, Any]) -> Mapping[str, Any]:
    if tool.get("type") == "function" and isinstance(tool.get("function"), Mapping):
        return tool["function"]
    return tool


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
    return json.dumps(content, ensure_ascii=False)
