"""A teacher served by an in-process vLLM engine (`vllm.LLM`), one engine per worker.

Install: `scripts/setup_vllm.sh` (requirements-vllm.txt) builds `.venv-vllm` with vLLM on CPU;
on GPU machines `pip install 'drawreason[vllm-gpu]'`. This module imports without vllm; `load()`
imports it.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from drawreason.teachers.base import (
    ChatMessage,
    SamplingParams,
    TeacherError,
    TeacherReply,
    to_openai_messages,
)

log = logging.getLogger(__name__)

# Per request: keyword arguments of `vllm.sampling_params.StructuredOutputsParams` (e.g.
# {"regex": ...} or {"choice": [...]}) that constrain the reply, or None for a free reply.
StructuredOutputs = Callable[[Sequence[ChatMessage]], Mapping[str, Any] | None]

MISSING_VLLM = (
    "vllm is not installed in this environment: build the vLLM venv with scripts/setup_vllm.sh "
    "(CPU, requirements-vllm.txt) or, on a GPU machine, pip install 'drawreason[vllm-gpu]'"
)


@dataclass
class _Request:
    """One queued chat request and where to deliver its outcome."""

    conversation: list[dict[str, Any]]
    params: Any  # vllm.SamplingParams
    future: asyncio.Future[TeacherReply]
    loop: asyncio.AbstractEventLoop


_STOP = object()  # the queue item that ends the batching thread


def _settle(future: asyncio.Future[TeacherReply], outcome: TeacherReply | TeacherError) -> None:
    """Runs on the future's loop; a caller that gave up (cancelled) gets nothing."""
    if future.done():
        return
    if isinstance(outcome, TeacherError):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


class VLLMTeacher:
    """Chat completions from an in-process `vllm.LLM`, batched across trajectories.

    `complete()` queues its request and awaits a future; one background thread takes everything
    queued (at most `max_batch` requests) into a single `LLM.chat` call, so the engine batches
    requests of many trajectories while each trajectory advances on its own, then resolves each
    future on its own event loop. The engine is created on first use or by `load()` (a Beam
    DoFn's `setup`) and serves every later event loop of the process; `close()` keeps it (it is
    per worker), `shutdown()` frees it. Picklable before and after loading: the engine, thread
    and queue stay behind and the unpickled copy loads its own.

    A failing `LLM.chat` call over several requests is retried one request at a time, so a
    request the engine rejects (too long a prompt, too many images) fails alone with
    TeacherError while the others get their replies; each failure is logged.

    `structured_outputs` (optional, picklable for Beam) returns per request the keyword
    arguments of vLLM's `StructuredOutputsParams` (`regex`, `choice`, `json`, `grammar`) that
    constrain the reply, or None to leave it free.

    On CPU, vLLM 0.32 kills the engine ("CPU Generator does not use offset") when a request
    with a seed is prefilled in chunks: there, given `max_model_len`, chunked prefill is turned
    off by default (`engine_args`); `engine_kwargs` can say otherwise.

    The constructor raises ValueError if `max_batch` < 1 or `max_images_per_prompt` < 0.
    """

    name = "vllm"

    def __init__(
        self,
        model: str,
        tensor_parallel_size: int = 1,
        dtype: str = "auto",
        max_model_len: int | None = None,
        max_images_per_prompt: int = 16,
        gpu_memory_utilization: float = 0.9,
        enforce_eager: bool = False,
        max_batch: int = 256,
        engine_kwargs: dict[str, Any] | None = None,
        structured_outputs: StructuredOutputs | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if max_images_per_prompt < 0:
            raise ValueError(f"max_images_per_prompt must be >= 0, got {max_images_per_prompt}")
        self.model = model
        self.tensor_parallel_size = tensor_parallel_size
        self.dtype = dtype
        self.max_model_len = max_model_len
        self.max_images_per_prompt = max_images_per_prompt
        self.gpu_memory_utilization = gpu_memory_utilization
        self.enforce_eager = enforce_eager
        self.max_batch = max_batch
        self.engine_kwargs = dict(engine_kwargs or {})
        self.structured_outputs = structured_outputs
        self._counters = {
            "requests": 0,
            "failures": 0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "batches": 0,
            "max_batch_seen": 0,
        }
        self._init_runtime()

    def _init_runtime(self) -> None:
        self._llm: Any = None  # vllm.LLM once loaded
        self._params_cls: Any = None  # vllm.SamplingParams once loaded
        self._structured_cls: Any = None  # vllm's StructuredOutputsParams once loaded
        self._thread: threading.Thread | None = None
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._load_lock = threading.Lock()
        self._stats_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"VLLMTeacher(model={self.model!r}, loaded={self._llm is not None})"

    def __getstate__(self) -> dict[str, Any]:  # Beam ships the configuration, not the engine
        state = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        with self._stats_lock:
            state["_counters"] = dict(self._counters)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_runtime()

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    def engine_args(self, cpu: bool = False) -> dict[str, Any]:
        """The keyword arguments of `vllm.LLM`: the constructor's options, `engine_kwargs`
        last (they win). On a CPU platform (`cpu`) with a known `max_model_len`, chunked
        prefill is turned off unless `engine_kwargs` says otherwise (see the class docstring:
        vLLM 0.32 on CPU stops its engine on a seeded request prefilled in chunks)."""
        args: dict[str, Any] = {
            "model": self.model,
            "tensor_parallel_size": self.tensor_parallel_size,
            "dtype": self.dtype,
            "gpu_memory_utilization": self.gpu_memory_utilization,
            "enforce_eager": self.enforce_eager,
            "limit_mm_per_prompt": {"image": self.max_images_per_prompt},
        }
        if self.max_model_len is not None:
            args["max_model_len"] = self.max_model_len
            if cpu and "enable_chunked_prefill" not in self.engine_kwargs:
                args["enable_chunked_prefill"] = False
                args["max_num_batched_tokens"] = 2 * self.max_model_len
        elif cpu and "enable_chunked_prefill" not in self.engine_kwargs:
            log.warning(
                "vllm teacher on CPU without max_model_len: chunked prefill stays on, and seeded "
                "requests may stop the engine; set teacher.max_model_len"
            )
        args.update(self.engine_kwargs)
        return args

    def load(self) -> None:
        """Create the engine and start the batching thread, once; later calls return at once.
        Blocks while the engine starts (tens of seconds). Raises ModuleNotFoundError naming
        scripts/setup_vllm.sh when vllm is missing, and whatever `vllm.LLM` raises on a bad
        model or configuration."""
        with self._load_lock:
            if self._llm is not None:
                return
            try:
                import vllm
                from vllm.sampling_params import StructuredOutputsParams
            except ModuleNotFoundError as exc:
                raise ModuleNotFoundError(MISSING_VLLM) from exc
            log.info("vllm teacher: starting an engine for %s", self.model)
            from vllm.platforms import current_platform

            self._llm = vllm.LLM(**self.engine_args(cpu=current_platform.is_cpu()))
            self._params_cls, self._structured_cls = vllm.SamplingParams, StructuredOutputsParams
            self._thread = threading.Thread(
                target=self._serve, name="vllm-teacher-batcher", daemon=True
            )
            self._thread.start()

    def usage(self) -> dict[str, int]:
        """Counters since construction: requests (queued), failures (requests that raised
        TeacherError), prompt and completion tokens, batches (`LLM.chat` calls that succeeded
        or failed as a whole) and the largest batch sent."""
        with self._stats_lock:
            return dict(self._counters)

    def _count(self, **increments: int) -> None:
        with self._stats_lock:
            for key, value in increments.items():
                self._counters[key] += value

    def _sampling(self, messages: Sequence[ChatMessage], params: SamplingParams) -> Any:
        constraint = self.structured_outputs(messages) if self.structured_outputs else None
        return self._params_cls(
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_tokens,
            seed=params.seed,
            structured_outputs=(
                self._structured_cls(**constraint) if constraint is not None else None
            ),
        )

    async def complete(
        self, messages: Sequence[ChatMessage], params: SamplingParams
    ) -> TeacherReply:
        """One chat completion, batched with whatever else is queued. Loads the engine first if
        needed (see `load` for what that raises). Raises TeacherError if the engine fails on
        this request or was shut down while it waited."""
        if self._llm is None:
            await asyncio.to_thread(self.load)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[TeacherReply] = loop.create_future()
        request = _Request(
            to_openai_messages(messages), self._sampling(messages, params), future, loop
        )
        self._count(requests=1)
        self._queue.put(request)
        return await future

    async def close(self) -> None:
        """Nothing to release per event loop: the engine outlives each `asyncio.run` (a Beam
        bundle) and is freed by `shutdown()`."""

    def shutdown(self) -> None:
        """Stop the batching thread, fail requests still queued with TeacherError, and free
        the engine; a later `complete()` or `load()` starts a new one."""
        with self._load_lock:
            if self._llm is None:
                return
            self._queue.put(_STOP)
            if self._thread is not None:
                self._thread.join()
            llm, self._llm, self._thread = self._llm, None, None
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Request):
                self._count(failures=1)
                self._deliver(item, TeacherError("the vllm teacher was shut down"))
        llm.llm_engine.engine_core.shutdown()
        del llm
        log.info("vllm teacher: engine for %s shut down", self.model)

    # --- the batching thread -------------------------------------------------------------------

    def _serve(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            batch: list[_Request] = [item]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            self._run(batch)
            if stop:
                return

    def _chat(self, batch: list[_Request]) -> list[Any]:
        with self._stats_lock:
            self._counters["batches"] += 1
            self._counters["max_batch_seen"] = max(self._counters["max_batch_seen"], len(batch))
        return self._llm.chat(
            [r.conversation for r in batch],
            sampling_params=[r.params for r in batch],
            use_tqdm=False,
        )

    def _run(self, batch: list[_Request]) -> None:
        """Run one batch and deliver every outcome; never raises (the thread must live)."""
        try:
            outputs = self._chat(batch)
        except Exception as exc:  # noqa: BLE001 - any engine failure becomes a TeacherError
            if len(batch) == 1:
                self._fail(batch[0], exc)
                return
            log.warning(
                "vllm teacher: a batch of %d failed (%s: %s); retrying one by one",
                len(batch),
                type(exc).__name__,
                exc,
            )
            for request in batch:
                self._run([request])
            return
        for request, output in zip(batch, outputs, strict=True):
            self._deliver(request, self._reply(output))

    def _fail(self, request: _Request, exc: Exception) -> None:
        message = f"vllm engine failed: {type(exc).__name__}: {exc}"[:500]
        log.error("vllm teacher: %s", message)
        self._count(failures=1)
        self._deliver(request, TeacherError(message))

    def _reply(self, output: Any) -> TeacherReply:
        completion = output.outputs[0]
        prompt_tokens = len(output.prompt_token_ids or ())
        completion_tokens = len(completion.token_ids)
        finish_reason = completion.finish_reason or "stop"
        self._count(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        return TeacherReply(
            text=completion.text,
            finish_reason=finish_reason,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            raw={
                "id": str(output.request_id),
                "model": self.model,
                "finish_reason": finish_reason,
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
            },
        )

    @staticmethod
    def _deliver(request: _Request, outcome: TeacherReply | TeacherError) -> None:
        try:
            request.loop.call_soon_threadsafe(_settle, request.future, outcome)
        except RuntimeError:  # the caller's loop is closed: nobody is waiting any more
            log.debug("vllm teacher: dropped a reply for a closed event loop")
