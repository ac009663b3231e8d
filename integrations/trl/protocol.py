"""The drawing protocol as TRL reads and writes conversations: chat template and tool-call parser.

TRL (1.16) renders a tool-calling conversation with the processor's chat template and reads the
tool calls of a completion with `tokenizer.parse_response` (stock parsers know `<tool_call>`
JSON formats only). A model trained on our SFT data writes calls as the protocol's
`Action: Object Mapper` + fenced JSON and sees the environment's reply as a user turn with
the new images, so `use_protocol(processor)`:

- sets a Qwen-markup chat template (`PROTOCOL_TEMPLATE`) in which an assistant message is its
  text as written (a call with no text renders as `integrations.session.canonical_turn` would),
  and a `tool` message is rendered as the user turn that carries the environment's reply and
  images, exactly as in our SFT data and our own trainer;
- makes the tokenizer's `parse_response` the project's tolerant parser
  (`integrations.session.turn_call`, i.e. `drawing.parse`), the one the verl ToolParser uses.

No TRL import here: the template and parser are plain transformers objects.
"""

from __future__ import annotations

import types
from typing import Any

from drawreason.integrations.session import TOOL_ACTIONS, turn_call

END_TOKENS = ("<|im_end|>", "<|endoftext|>")

# Jinja; `actions` maps the dispatched tool names to the protocol's action names. A content-less
# call (as TRL's template probes write them) renders as the canonical protocol turn.
PROTOCOL_TEMPLATE = (
    "{%- set actions = " + repr(dict(TOOL_ACTIONS)) + " -%}"
    "{%- for message in messages -%}"
    "{%- set ns = namespace(text='') -%}"
    "{%- if message['content'] is string -%}{%- set ns.text = message['content'] -%}"
    "{%- elif message['content'] -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' or ('image' in part and part['image']) -%}"
    "{%- set ns.text = ns.text + '<|vision_start|><|image_pad|><|vision_end|>' -%}"
    "{%- elif part['type'] == 'text' and part['text'] -%}"
    "{%- set ns.text = ns.text + part['text'] -%}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{%- if message['role'] == 'assistant' and message.get('tool_calls') "
    "and not ns.text | trim -%}"
    "{%- for call in message['tool_calls'] -%}"
    "{%- set args = call['function']['arguments'] -%}"
    "{%- set ops = args['operations'] if args is mapping and 'operations' in args else args -%}"
    "{%- set ns.text = ns.text + 'Action: ' + actions.get(call['function']['name'], "
    "call['function']['name']) + '\\n```json\\n' + (ops | tojson) + '\\n```' -%}"
    "{%- endfor -%}{%- endif -%}"
    "{%- set role = 'user' if message['role'] == 'tool' else message['role'] -%}"
    "{{ '<|im_start|>' + role + '\\n' + ns.text + '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)


def parse_protocol(text: str) -> dict[str, Any]:
    """An assistant turn as TRL's response dict: the text as written, plus `tool_calls` (one
    OpenAI-style function call) when the project's parser reads a drawing call from it."""
    for token in END_TOKENS:
        text = text.split(token, 1)[0]
    message: dict[str, Any] = {"role": "assistant", "content": text}
    call = turn_call(text)
    if call is not None:
        function = {"name": call.tool, "arguments": call.arguments()}
        message["tool_calls"] = [{"type": "function", "function": function}]
    return message


def _parse_response(tokenizer: Any, response: Any, prefix: Any = None, tools: Any = None) -> dict:
    # TRL passes token ids (and, on transformers >= 5.13, the prompt ids and tool schemas,
    # which the protocol does not need); strings are accepted as transformers' own parser does.
    text = response if isinstance(response, str) else tokenizer.decode(response)
    return parse_protocol(text)


def use_protocol(processor: Any) -> Any:
    """Make a Qwen-VL processor (or tokenizer) render and parse the drawing protocol; returns
    it. Raises ValueError if the tokenizer has no `<|im_start|>` token (not Qwen markup)."""
    tokenizer = getattr(processor, "tokenizer", processor)
    if tokenizer.convert_tokens_to_ids("<|im_start|>") in (None, tokenizer.unk_token_id):
        raise ValueError("the drawing protocol template needs a Qwen-markup tokenizer")
    processor.chat_template = PROTOCOL_TEMPLATE
    tokenizer.chat_template = PROTOCOL_TEMPLATE
    tokenizer.parse_response = types.MethodType(_parse_response, tokenizer)
    # TRL calls parse_response only when a response template is declared; ours is the parser
    # above, so the marker names it. A processor saved with it (TRL checkpoints) keeps the
    # marker but not the bound parser: call use_protocol again after loading one.
    tokenizer.response_template = {"parser": "drawreason"}
    return processor
