"""verl ToolParser for the drawing protocol's `Action: ... ```json [...] ``` ` turns.

Registered in verl as `drawreason` (`actor_rollout_ref.rollout.multi_turn.format=drawreason`),
so a model trained on our SFT data calls tools in the format it learned. It reads a turn with
the project's tolerant parser (`integrations.session.turn_call`): a turn that draws becomes one
call of `object_mapper` or `path_tracer` with its operations; an answer, a turn without an
action and an unparsable turn make no call, which ends the rollout in verl's ToolAgentLoop as
it ends a trajectory in our environment.
"""

from __future__ import annotations

import json

from drawreason.integrations.session import turn_call
from verl.experimental.agent_loop.tool_parser import FunctionCall, ToolParser
from verl.utils.ray_utils import get_event_loop

PARSER_NAME = "drawreason"


@ToolParser.register(PARSER_NAME)
class DrawingToolParser(ToolParser):
    """Decodes the response and returns (the whole turn text, its tool call if any)."""

    async def extract_tool_calls(self, responses_ids, tools=None):
        loop = get_event_loop()
        text = await loop.run_in_executor(None, self.tokenizer.decode, responses_ids)
        return self.extract_from_text(text)

    @staticmethod
    def extract_from_text(text: str) -> tuple[str, list[FunctionCall]]:
        """The turn text with any end-of-turn token removed, and its calls (zero or one)."""
        for end in ("<|im_end|>", "<|endoftext|>"):
            text = text.split(end, 1)[0]
        call = turn_call(text)
        if call is None:
            return text, []
        arguments = json.dumps(call.arguments(), ensure_ascii=False)
        return text, [FunctionCall(name=call.tool, arguments=arguments)]
