"""An in-process teacher test double that answers from a script over the conversation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from drawreason.teachers.base import ChatMessage, SamplingParams, TeacherReply

Script = Callable[[list[ChatMessage]], "str | tuple[str, str]"]


class ScriptedTeacher:
    """Replies with `script(messages)`: the text, or (text, finish_reason). Token counts are
    whitespace-separated words (plus 64 per image in the prompt). `latency_s` is a fixed delay
    or a function of the messages, to make trajectories overlap in time."""

    name = "scripted"

    def __init__(
        self,
        script: Script,
        model: str = "scripted",
        latency_s: float | Callable[[list[ChatMessage]], float] = 0.0,
    ) -> None:
        self.script = script
        self.model = model
        self.latency_s = latency_s
        self.calls: list[list[ChatMessage]] = []
        self.in_flight = 0
        self.max_in_flight_seen = 0
        self._counters = {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0}

    def usage(self) -> dict[str, int]:
        return dict(self._counters)

    async def complete(
        self, messages: Sequence[ChatMessage], params: SamplingParams
    ) -> TeacherReply:
        conversation = list(messages)
        self.calls.append(conversation)
        self._counters["requests"] += 1
        self.in_flight += 1
        self.max_in_flight_seen = max(self.max_in_flight_seen, self.in_flight)
        try:
            latency = self.latency_s(conversation) if callable(self.latency_s) else self.latency_s
            if latency > 0:
                await asyncio.sleep(latency)
            result = self.script(conversation)
        finally:
            self.in_flight -= 1
        text, finish_reason = (result, "stop") if isinstance(result, str) else result
        prompt_tokens = sum(len(m.text.split()) + 64 * len(m.images) for m in conversation)
        completion_tokens = len(text.split())
        self._counters["prompt_tokens"] += prompt_tokens
        self._counters["completion_tokens"] += completion_tokens
        raw = {"model": self.model, "text": text, "finish_reason": finish_reason}
        return TeacherReply(text, finish_reason, prompt_tokens, completion_tokens, raw)

    async def close(self) -> None:
        return None
