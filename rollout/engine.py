"""The async multi-turn rollout engine: trajectories advance independently, replies cached."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import Any

from drawreason.drawing.environment import EnvConfig
from drawreason.drawing.prompts import Prompts
from drawreason.rollout.cache import ReplyCache
from drawreason.rollout.conversation import Conversation, RolloutJob, RolloutRecord
from drawreason.teachers.base import (
    ChatMessage,
    SamplingParams,
    Teacher,
    TeacherError,
    TeacherReply,
)
from PIL import Image

DEFAULT_ENV_CONFIG = EnvConfig()


# At most this many trajectories of one event loop are being opened (conversation built, first
# cache lookup done) at a time. Without it, a burst of submissions (every slot at the start of a
# run) builds every conversation before the first request leaves, and the engine idles
# meanwhile; with it, each opened trajectory's first request goes out at once.
OPENING = 8

# A turn's request looked up in the cache: (messages, cache key, request log, cached reply or
# None, when the lookup started).
LookedUp = tuple[list[ChatMessage], str, dict[str, Any], TeacherReply | None, float]


async def _lookup(conv: Conversation, cache: ReplyCache | None) -> LookedUp:
    """The next request of `conv` and its cached reply, if any."""
    messages, key, request = conv.request()
    started = time.perf_counter()
    reply = await asyncio.to_thread(cache.get, key) if cache is not None else None
    return messages, key, request, reply, started


async def _turn(
    conv: Conversation,
    teacher: Teacher,
    cache: ReplyCache | None,
    looked_up: LookedUp | None = None,
    pending_puts: list[asyncio.Future[None]] | None = None,
) -> None:
    """One teacher call (or cache hit) and its execution. A TeacherError ends the trajectory
    as `teacher_error`; any other exception is a bug and propagates. With `pending_puts`, the
    reply is written to the cache in the background (the caller awaits those writes before the
    trajectory counts as finished), so a slow disk does not delay the next request."""
    messages, key, request, reply, started = looked_up or await _lookup(conv, cache)
    cached = reply is not None
    if reply is None:
        try:
            reply = await teacher.complete(messages, conv.params)
        except TeacherError as exc:
            conv.fail(str(exc), request)
            return
        if cache is not None:
            put = asyncio.ensure_future(asyncio.to_thread(cache.put, key, reply))
            if pending_puts is None:
                await put
            else:
                pending_puts.append(put)
    latency = time.perf_counter() - started
    # Rendering and PNG encoding leave the event loop free for the other trajectories.
    await asyncio.to_thread(conv.advance, reply, request, cached, latency)


async def _open(
    job: RolloutJob, teacher: Teacher, params: SamplingParams, config: EnvConfig, prompts: Prompts
) -> Conversation:
    return await asyncio.to_thread(Conversation, job, teacher.model, params, config, prompts)


async def _run(
    job: RolloutJob,
    teacher: Teacher,
    params: SamplingParams,
    env_config: EnvConfig,
    prompts: Prompts,
    cache: ReplyCache | None,
    opening: asyncio.Semaphore | None = None,
) -> RolloutRecord:
    async with opening or contextlib.nullcontext():
        conv = await _open(job, teacher, params, env_config, prompts)
        looked_up = await _lookup(conv, cache) if not conv.done else None
    pending_puts: list[asyncio.Future[None]] = []
    try:
        while not conv.done:
            await _turn(conv, teacher, cache, looked_up, pending_puts)
            looked_up = None
    finally:
        await asyncio.gather(*pending_puts)  # every answered reply is cached before we return
    return conv.record()


async def rollout_job(
    job: RolloutJob,
    teacher: Teacher,
    params: SamplingParams,
    env_config: EnvConfig,
    prompts: Prompts,
    cache: ReplyCache | None = None,
    opening: asyncio.Semaphore | None = None,
) -> RolloutRecord:
    """Roll out one prepared job to its end (see `rollout_one`); `opening`, shared by the
    trajectories of one loop, bounds how many are being opened at once (see OPENING)."""
    return await _run(job, teacher, params, env_config, prompts, cache, opening)


async def rollout_one(
    item_images: Sequence[Image.Image],
    system: str,
    user: str,
    teacher: Teacher,
    params: SamplingParams,
    env_config: EnvConfig,
    prompts: Prompts,
    cache: ReplyCache | None = None,
    *,
    key_prefix: str,
    sample_index: int = 0,
) -> RolloutRecord:
    """Roll out one trajectory: system + user (one `<image>` per input image) + alternating
    teacher replies and environment replies until the environment says done.

    Never raises on teacher failure (termination `teacher_error`, text in `error`) or on model
    text; raises ValueError on inconsistent inputs (see Conversation).
    """
    job = RolloutJob(key_prefix, tuple(item_images), system, user, sample_index)
    return await _run(job, teacher, params, env_config, prompts, cache)


async def rollout_many(
    jobs: Sequence[RolloutJob],
    teacher: Teacher,
    params: SamplingParams,
    env_config: EnvConfig = DEFAULT_ENV_CONFIG,
    prompts: Prompts | None = None,
    cache: ReplyCache | None = None,
    max_concurrent_trajectories: int = 64,
) -> list[RolloutRecord]:
    """Roll out every job, one asyncio task per trajectory, at most
    `max_concurrent_trajectories` open at once; each trajectory sends its next request as soon
    as its previous reply is executed (no rounds). Records come back in job order."""
    if max_concurrent_trajectories < 1:
        raise ValueError(
            f"max_concurrent_trajectories must be >= 1, got {max_concurrent_trajectories}"
        )
    prompts = prompts or Prompts()
    slots = asyncio.Semaphore(max_concurrent_trajectories)
    opening = asyncio.Semaphore(OPENING)

    async def bounded(job: RolloutJob) -> RolloutRecord:
        async with slots:
            return await _run(job, teacher, params, env_config, prompts, cache, opening)

    async with asyncio.TaskGroup() as group:  # a bug in one task cancels the rest and raises
        tasks = [group.create_task(bounded(job)) for job in jobs]
    return [task.result() for task in tasks]


async def rollout_lockstep(
    jobs: Sequence[RolloutJob],
    teacher: Teacher,
    params: SamplingParams,
    env_config: EnvConfig = DEFAULT_ENV_CONFIG,
    prompts: Prompts | None = None,
    cache: ReplyCache | None = None,
    max_concurrent_trajectories: int = 64,
) -> list[RolloutRecord]:
    """The reference implementation's loop, as a benchmark baseline: batches of
    `max_concurrent_trajectories`; within a batch every active trajectory sends turn t, all
    replies are awaited, then turn t + 1. Same records as `rollout_many`."""
    if max_concurrent_trajectories < 1:
        raise ValueError(
            f"max_concurrent_trajectories must be >= 1, got {max_concurrent_trajectories}"
        )
    prompts = prompts or Prompts()
    records: list[RolloutRecord] = []
    for start in range(0, len(jobs), max_concurrent_trajectories):
        batch = jobs[start : start + max_concurrent_trajectories]
        convs = await asyncio.gather(
            *(_open(job, teacher, params, env_config, prompts) for job in batch)
        )
        active = list(convs)
        while active:
            await asyncio.gather(*(_turn(conv, teacher, cache) for conv in active))
            active = [conv for conv in active if not conv.done]
        records.extend(conv.record() for conv in convs)
    return records


def run_rollouts(
    jobs: Sequence[RolloutJob],
    teacher: Teacher,
    params: SamplingParams,
    env_config: EnvConfig = DEFAULT_ENV_CONFIG,
    prompts: Prompts | None = None,
    cache: ReplyCache | None = None,
    max_concurrent_trajectories: int = 64,
    lockstep: bool = False,
    close_teacher: bool = True,
) -> list[RolloutRecord]:
    """Synchronous entry point (a Beam DoFn's process/finish_bundle): runs `rollout_many` (or
    the lock-step baseline) in a fresh event loop, then closes the teacher's connections of
    that loop unless told not to. Raises RuntimeError if called inside a running loop."""
    driver = rollout_lockstep if lockstep else rollout_many

    async def main() -> list[RolloutRecord]:
        try:
            return await driver(
                jobs, teacher, params, env_config, prompts, cache, max_concurrent_trajectories
            )
        finally:
            if close_teacher:
                await teacher.close()

    return asyncio.run(main())
