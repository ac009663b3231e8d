"""One trajectory's conversation with a teacher: the messages, the environment, the record."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from drawreason.drawing.environment import DrawingEnv, EnvConfig
from drawreason.drawing.images import encode_png
from drawreason.drawing.prompts import IMAGE_TOKEN, Prompts
from drawreason.rollout.cache import cache_key
from drawreason.schemas.records import Turn
from drawreason.teachers.base import ChatMessage, SamplingParams, TeacherReply
from PIL import Image

TEACHER_ERROR = "teacher_error"


@dataclass(frozen=True)
class RolloutJob:
    """One trajectory to roll out: input images, the first two prompts, and its identity.

    `key` names the trajectory (e.g. "<item id>#<sample>"); `sample_index` tells the K samples
    of one question apart in the cache and in derived seeds; `env_config` overrides the
    engine-wide budgets (mazes allow 20 calls). `pngs`, when given, are `encode_png` of the
    images as the environment keeps them (RGB or palette), so the K samples of a question
    encode them once.
    """

    key: str
    images: tuple[Image.Image, ...]
    system: str
    user: str
    sample_index: int = 0
    env_config: EnvConfig | None = None
    pngs: tuple[bytes, ...] = ()  # encode_png of `images` when the caller has it already


@dataclass(frozen=True)
class TurnLog:
    """The request behind one assistant turn (no image bytes: their sha256 instead) and the
    raw reply. `cached` and `latency_s` differ between runs and do not take part in equality."""

    request: dict[str, Any]
    raw_reply: dict[str, Any]
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    cached: bool = field(default=False, compare=False)
    latency_s: float = field(default=0.0, compare=False)


@dataclass(frozen=True)
class RolloutRecord:
    """A finished teacher trajectory: what `generators.oracle` gets from `run_replies` (turns,
    images in index order, parents, termination) plus the PNG bytes the teacher saw, the
    per-turn request/reply logs, the teacher error text if any, and usage counts."""

    key: str
    sample_index: int
    system: str
    user: str
    num_inputs: int
    turns: tuple[Turn, ...]
    pngs: tuple[bytes, ...]
    parents: tuple[int, ...]
    termination: str
    error: str = ""
    turn_logs: tuple[TurnLog, ...] = ()
    images: tuple[Image.Image, ...] = field(default=(), compare=False, repr=False)
    usage: dict[str, int] = field(default_factory=dict, compare=False)


def derive_seed(seed: int, key: str, sample_index: int) -> int:
    """A per-trajectory request seed from the run seed and the trajectory identity, through
    sha256 (stable on every worker), so K samples of one question differ but reproduce."""
    digest = hashlib.sha256(f"{seed}\x00{key}\x00{sample_index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def _sha(png: bytes) -> str:
    return hashlib.sha256(png).hexdigest()


class Conversation:
    """The state of one trajectory between teacher calls.

    `request()` gives the messages to send and their cache key; `advance(reply)` executes the
    reply in the drawing environment and appends it and the environment's answer (with the
    PNG bytes of exactly the new images) to the messages; `fail(error)` ends the trajectory as
    `teacher_error`. Raises ValueError if `user` has a number of `<image>` placeholders other
    than zero (they are then prepended, one per input) or one per input image.
    """

    def __init__(
        self,
        job: RolloutJob,
        model: str,
        params: SamplingParams,
        env_config: EnvConfig,
        prompts: Prompts | None = None,
    ) -> None:
        self.job = job
        self.model = model
        self.params = (
            params
            if params.seed is None
            else dataclasses.replace(
                params, seed=derive_seed(params.seed, job.key, job.sample_index)
            )
        )
        self.env = DrawingEnv(job.images, job.env_config or env_config, prompts)
        n = len(self.env.images)
        user = job.user
        if user.count(IMAGE_TOKEN) == 0:
            user = f"{IMAGE_TOKEN}\n" * n + user
        elif user.count(IMAGE_TOKEN) != n:
            raise ValueError(
                f"job {job.key!r}: user prompt has {user.count(IMAGE_TOKEN)} {IMAGE_TOKEN!r} "
                f"placeholder(s) for {n} input image(s)"
            )
        self.user = user
        # The environment's copies (RGB or palette) are exactly what the teacher sees.
        self.pngs: list[bytes] = list(job.pngs) or [encode_png(im) for im in self.env.images]
        self.hashes: list[str] = [_sha(p) for p in self.pngs]
        self.messages: list[ChatMessage] = [
            ChatMessage("system", job.system),
            ChatMessage("user", user, tuple(self.pngs), tuple(self.hashes)),
        ]
        self.logs: list[TurnLog] = []
        self.error = ""
        self.usage = {
            "teacher_requests": 0,
            "cache_hits": 0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "teacher_errors": 0,
            "retries": 0,
        }

    @property
    def done(self) -> bool:
        return self.env.done or bool(self.error)

    def request(self) -> tuple[list[ChatMessage], str, dict[str, Any]]:
        """(messages, cache key, request log) of the next teacher call."""
        hashes = [m.image_ids for m in self.messages]
        key = cache_key(self.model, self.params, self.messages, self.job.sample_index, hashes)
        log = {
            "model": self.model,
            "params": self.params.to_dict(),
            "sample_index": self.job.sample_index,
            "cache_key": key,
            "num_messages": len(self.messages),
            "image_sha256": [h for message in hashes for h in message],
        }
        return list(self.messages), key, log

    def advance(
        self, reply: TeacherReply, request: dict[str, Any], cached: bool, latency_s: float
    ) -> None:
        """Execute `reply` and extend the conversation. CPU work (render, PNG encode): safe to
        run in a worker thread, since only this trajectory's task touches this object."""
        self.usage["cache_hits" if cached else "teacher_requests"] += 1
        self.usage["prompt_tokens"] += reply.prompt_tokens
        self.usage["completion_tokens"] += reply.completion_tokens
        self.usage["retries"] += reply.retries
        self.logs.append(
            TurnLog(
                request=request,
                raw_reply=reply.raw,
                finish_reason=reply.finish_reason,
                prompt_tokens=reply.prompt_tokens,
                completion_tokens=reply.completion_tokens,
                cached=cached,
                latency_s=latency_s,
            )
        )
        result = self.env.step(reply.text, reply.finish_reason)
        new = [encode_png(image) for _, image in result.new_images]
        new_hashes = [_sha(p) for p in new]
        self.pngs.extend(new)
        self.hashes.extend(new_hashes)
        self.messages.append(ChatMessage("assistant", reply.text))
        if not result.done:
            self.messages.append(
                ChatMessage("user", result.env_reply, tuple(new), tuple(new_hashes))
            )

    def fail(self, error: str, request: dict[str, Any]) -> None:
        """End the trajectory as `teacher_error`, keeping the failed request in the logs."""
        self.usage["teacher_requests"] += 1
        self.usage["teacher_errors"] += 1
        self.error = error
        self.logs.append(TurnLog(request, {"error": error}, "error", 0, 0))

    def record(self) -> RolloutRecord:
        if not self.done:
            raise RuntimeError(f"job {self.job.key!r}: record() before the trajectory ended")
        return RolloutRecord(
            key=self.job.key,
            sample_index=self.job.sample_index,
            system=self.job.system,
            user=self.user,
            num_inputs=len(self.job.images),
            turns=tuple(self.env.turns),
            pngs=tuple(self.pngs),
            parents=tuple(self.env.parents),
            termination=TEACHER_ERROR if self.error else self.env.termination,
            error=self.error,
            turn_logs=tuple(self.logs),
            images=tuple(self.env.images),
            usage=dict(self.usage),
        )


def jobs_from_images(
    key: str, images: Sequence[Image.Image], system: str, user: str, samples: int = 1
) -> list[RolloutJob]:
    """`samples` jobs for one question, sample indices 0..samples-1."""
    return [
        RolloutJob(f"{key}#{s}", tuple(images), system, user, sample_index=s)
        for s in range(samples)
    ]
