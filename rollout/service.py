"""A long-lived rollout service: one teacher and one event loop per process, fed job by job."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

from drawreason.drawing.environment import EnvConfig
from drawreason.drawing.prompts import Prompts
from drawreason.rollout.cache import ReplyCache
from drawreason.rollout.conversation import RolloutJob, RolloutRecord
from drawreason.rollout.engine import OPENING, rollout_job
from drawreason.teachers.base import SamplingParams, Teacher

THREADS = 16


class RolloutService:
    """Runs trajectories on an event loop of its own (a daemon thread), at most `max_open` at
    once across every caller: `submit` returns at once with a future, and a finished
    trajectory's slot goes to the next submitted job immediately (continuous refill, no rounds,
    no batch to wait for). The teacher's connections live on that one loop for the life of the
    service, so they are not reopened per Beam bundle. Trajectories are opened `OPENING` at a
    time, so a burst of submissions sends its first requests before it has built them all.

    Thread-safe: several DoFn instances of one worker process may submit to one service (Beam's
    `Shared`). `acquire`/`release` count them; the last release closes the teacher (and frees a
    vLLM engine through its `shutdown`) and stops the loop. A bug in a trajectory (any
    exception other than TeacherError, which ends the trajectory as `teacher_error`) is raised
    by the future's `result()`.
    """

    def __init__(
        self,
        teacher: Teacher,
        cache: ReplyCache | None,
        max_open: int,
    ) -> None:
        if max_open < 1:
            raise ValueError(f"max_open must be >= 1, got {max_open}")
        self.teacher = teacher
        self.cache = cache
        self.max_open = max_open
        self.closed = False
        self._users = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        # Cache reads and writes, rendering and encoding run in threads (asyncio.to_thread):
        # enough of them that cache writes waiting on the disk do not hold up the rest.
        self._threads = concurrent.futures.ThreadPoolExecutor(
            max_workers=THREADS, thread_name_prefix="rollout-io"
        )
        self._loop.set_default_executor(self._threads)
        self._slots = asyncio.Semaphore(max_open)
        self._opening = asyncio.Semaphore(OPENING)
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="rollout-service", daemon=True
        )
        self._thread.start()

    def acquire(self) -> RolloutService:
        with self._lock:
            self._users += 1
        return self

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            last = self._users <= 0
        if last:
            self.close()

    def submit(
        self,
        job: RolloutJob,
        params: SamplingParams,
        env_config: EnvConfig,
        prompts: Prompts,
    ) -> concurrent.futures.Future[RolloutRecord]:
        """Queue one trajectory; it opens as soon as fewer than `max_open` are open."""
        if self.closed:
            raise RuntimeError("the rollout service is closed")

        async def bounded() -> RolloutRecord:
            async with self._slots:
                return await rollout_job(
                    job, self.teacher, params, env_config, prompts, self.cache, self._opening
                )

        return asyncio.run_coroutine_threadsafe(bounded(), self._loop)

    def close(self) -> None:
        """Close the teacher's connections on the loop, free an in-process engine, stop."""
        if self.closed:
            return
        self.closed = True
        try:
            asyncio.run_coroutine_threadsafe(self.teacher.close(), self._loop).result(timeout=60)
        finally:
            shutdown = getattr(self.teacher, "shutdown", None)
            if shutdown is not None:
                shutdown()
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._threads.shutdown(wait=False)
