"""`drawreason_agent`: verl's ToolAgentLoop with the protocol's environment turns.

Stock `tool_agent` runs our tools too, but differs from the protocol in three ways this
subclass (registered as `drawreason_agent`, the records' `agent_name`) puts right, each a
small override around verl's own code:

- the environment turn is a `user` turn (what our SFT data taught), not a `tool` turn;
- its images sit where the reply's `<image>` tokens are, each followed by its index line
  (stock: all images first, then the text);
- a call that ends the trajectory in our environment (bad or duplicate operation, too many
  images, budget exhausted) ends the rollout there, with no environment turn after it, as
  in our rollout (stock: the loop goes on).
"""

from __future__ import annotations

from typing import Any

import drawreason.integrations.verl.tool  # noqa: F401  (registers the parser)
from drawreason.integrations.verl.tool import session_of
from verl.experimental.agent_loop.agent_loop import register
from verl.experimental.agent_loop.tool_agent_loop import AgentState, ToolAgentLoop

AGENT_NAME = "drawreason_agent"


@register(AGENT_NAME)
class DrawingAgentLoop(ToolAgentLoop):
    # verl instantiates one agent loop per trajectory (AgentLoopWorker._run_agent_loop).

    async def _handle_processing_tools_state(self, agent_data: Any) -> AgentState:
        self._agent_data = agent_data
        snapshot = (
            list(agent_data.prompt_ids),
            list(agent_data.response_mask),
            list(agent_data.response_logprobs),
            list(agent_data.messages),
            list(agent_data.image_data) if agent_data.image_data is not None else None,
            agent_data.user_turns,
        )
        state = await super()._handle_processing_tools_state(agent_data)
        session = session_of(agent_data)
        if session is not None and session.done:
            (
                agent_data.prompt_ids,
                agent_data.response_mask,
                agent_data.response_logprobs,
                agent_data.messages,
                agent_data.image_data,
                agent_data.user_turns,
            ) = snapshot
            return AgentState.TERMINATED
        return state

    async def ct_merge_context_msg(self, previous_messages, updated_messages, *args, **kwargs):
        session = None
        for message in updated_messages[len(previous_messages) :]:
            if message.get("role") != "tool":
                continue
            message["role"] = "user"
            if session is None:
                session = session_of(getattr(self, "_agent_data", None))
            content = session.reply_content() if session is not None else []
            if content:
                message["content"] = content
        return await super().ct_merge_context_msg(
            previous_messages, updated_messages, *args, **kwargs
        )
