"""The drawing environment as a verl `BaseTool` (verl 0.9.1, `verl.tools.base_tool`).

Declared in `integrations/verl/tool_config.yaml` as two tools, `object_mapper` and
`path_tracer`, both this class. verl 0.9.1's ToolAgentLoop creates and releases a tool
instance around *every* call, so the trajectory's state cannot live in the instance: the
`DrawingSession` (our DrawingEnv) is kept on the agent loop's per-trajectory `AgentData`
(which verl passes to `execute` as `agent_data` and documents as the place for tool session
data), and is built at the first call from the inputs verl shows the model
(`agent_data.image_data`) and the budgets in `create_kwargs` (written by
`integrations.verl.data` into `extra_info.tools_kwargs`). Called without `agent_data` (another
loop, a test), the session lives on the instance, keyed by instance id, until `release`; then
`create_kwargs` must carry the input `images` (PIL images or PNG bytes).

`execute` returns the rendered image(s) and the environment's reply in verl's ToolResponse,
step reward 0 (the reward is scored at the end, `integrations.verl.reward`) and metrics
naming the termination, if the call ended the trajectory.
"""

from __future__ import annotations

import io
from typing import Any
from uuid import uuid4

import drawreason.integrations.verl.parser  # noqa: F401  (registers the `drawreason` ToolParser)
from drawreason.drawing.prompts import Prompts
from drawreason.integrations.session import TOOL_ACTIONS, Budgets, DrawingSession
from PIL import Image
from verl.tools.base_tool import BaseTool
from verl.tools.schemas import OpenAIFunctionToolSchema, ToolResponse

SESSION_ATTR = "_drawreason_session"

_DESCRIPTIONS = {
    "object_mapper": "Draw labelled boxes on images: "
    '[{"index": i, "bbox_2d": [x1, y1, x2, y2], "label": "..."}]',
    "path_tracer": "Draw labelled lines on images: "
    '[{"index": i, "start_point_2d": [x1, y1], "end_point_2d": [x2, y2], "label": "..."}]',
}


def tool_schema(name: str) -> OpenAIFunctionToolSchema:
    """The OpenAI function schema of one drawing tool."""
    return OpenAIFunctionToolSchema.model_validate(
        {
            "type": "function",
            "function": {
                "name": name,
                "description": _DESCRIPTIONS[name],
                "parameters": {
                    "type": "object",
                    "properties": {
                        "operations": {
                            "type": "array",
                            "description": "the operations, one JSON object each",
                        }
                    },
                    "required": ["operations"],
                },
            },
        }
    )


def _image(value: Any) -> Image.Image:
    if isinstance(value, Image.Image):
        return value
    if isinstance(value, dict):
        value = value.get("bytes")
    return Image.open(io.BytesIO(value))


def session_of(agent_data: Any) -> DrawingSession | None:
    """The drawing session of a verl AgentData, if a call made one."""
    return getattr(agent_data, SESSION_ATTR, None)


class DrawingTool(BaseTool):
    """One drawing tool (`object_mapper` or `path_tracer`); config key `prompts_dir` picks a
    prompt set (default: the project's templates)."""

    def __init__(self, config: dict, tool_schema: OpenAIFunctionToolSchema | None = None):
        name = (tool_schema.function.name if tool_schema else None) or config.get("name")
        if name not in TOOL_ACTIONS:
            raise ValueError(
                f"drawing tool name must be one of {sorted(TOOL_ACTIONS)}, got {name!r}"
            )
        super().__init__(config, tool_schema or globals()["tool_schema"](name))
        self.prompts = Prompts.load(config.get("prompts_dir") or None)
        self._kwargs: dict[str, dict[str, Any]] = {}
        self._sessions: dict[str, DrawingSession] = {}

    async def create(self, instance_id: str | None = None, **kwargs) -> tuple[str, ToolResponse]:
        instance_id = instance_id or str(uuid4())
        self._kwargs[instance_id] = dict(kwargs.get("create_kwargs") or {})
        return instance_id, ToolResponse()

    def _session(self, instance_id: str, agent_data: Any) -> DrawingSession:
        if agent_data is not None and session_of(agent_data) is not None:
            return session_of(agent_data)
        if instance_id in self._sessions:
            return self._sessions[instance_id]
        kwargs = self._kwargs.get(instance_id, {})
        budgets = Budgets.from_kwargs(kwargs)
        if agent_data is not None:
            shown = list(agent_data.image_data or [])
            count = len(budgets.image_sizes) or len(shown)
            session = DrawingSession(shown[:count], budgets, self.prompts)
            setattr(agent_data, SESSION_ATTR, session)
            return session
        images = [_image(v) for v in kwargs.get("images") or ()]
        session = DrawingSession(images, budgets, self.prompts)
        self._sessions[instance_id] = session
        return session

    async def execute(
        self, instance_id: str, parameters: dict[str, Any], **kwargs
    ) -> tuple[ToolResponse, float, dict]:
        session = self._session(instance_id, kwargs.get("agent_data"))
        if session.done:
            return ToolResponse(text=""), 0.0, {"termination": session.termination}
        result = session.call(self.name, parameters.get("operations", []))
        metrics = {"new_images": len(result.new_images)}
        if result.done:
            metrics["termination"] = result.termination
            return ToolResponse(text=""), 0.0, metrics
        images = [image for _, image in result.new_images]
        return ToolResponse(text=session.reply_text(), image=images), 0.0, metrics

    async def release(self, instance_id: str, **kwargs) -> None:
        self._kwargs.pop(instance_id, None)
        self._sessions.pop(instance_id, None)
