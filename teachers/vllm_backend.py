"""A teacher served by an in-process vLLM engine (`AsyncLLM`), one engine per worker process.

Install: `scripts/setup_vllm.sh` (requirements-vllm.txt) builds `.venv-vllm` with vLLM on CPU;
on GPU machines `pip install 'drawreason[vllm-gpu]'`. This module imports without vllm; `load()`
imports it.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
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
SHUTDOWN_TIMEOUT_S = 60.0


class _Engine:
    """One `vllm.v1.engine.async_llm.AsyncLLM` and the event loop it lives on (a daemon
    thread), shared by every VLLMTeacher of the process with the same engine arguments.

    Requests come from any thread or event loop (`submit`); each goes into the running engine
    at once, rendered from chat messages exactly as `vllm.LLM.chat` renders them. `users`
    counts the teachers holding it; the registry below frees it when the last one lets go."""

    def __init__(self, args: dict[str, Any]) -> None:
        self.args = args
        self.users = 0
        self.open: set[asyncio.Task[Any]] = set()  # requests in the engine, on its loop
        self.most_open = 0
        self._ids = itertools.count()
        self._closing = False
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="vllm-teacher-engine", daemon=True
        )
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._start(), self.loop).result()
        except BaseException:
            self._stop_loop()
            raise

    async def _start(self) -> None:
        # Built on its own loop, so the engine's output handler runs there for its whole life.
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.renderers import ChatParams
        from vllm.sampling_params import RequestOutputKind
        from vllm.usage.usage_lib import UsageContext
        from vllm.utils.mistral import is_mistral_tokenizer
        from vllm.v1.engine.async_llm import AsyncLLM

        self.llm = AsyncLLM.from_engine_args(
            AsyncEngineArgs(**self.args), usage_context=UsageContext.LLM_CLASS
        )
        renderer = self.llm.renderer
        # What `LLM.chat` passes its renderer (vllm/entrypoints/common/offline.py,
        # `_preprocess_chat`), so a request renders to the same tokens on both paths.
        self.chat_params = ChatParams(
            chat_template_kwargs={
                "add_generation_prompt": True,
                "continue_final_message": False,
                "tools": None,
                "tokenize": is_mistral_tokenizer(renderer.tokenizer)
                or self.llm.model_config.enable_prompt_embeds,
            }
        )
        self.tok_params = renderer.default_chat_tok_params.with_kwargs(add_special_tokens=False)
        self.final_only = RequestOutputKind.FINAL_ONLY

    async def _generate(self, conversation: list[dict[str, Any]], params: Any) -> Any:
        """The final RequestOutput of one request; any vLLM failure becomes TeacherError."""
        task = asyncio.current_task()
        self.open.add(task)  # type: ignore[arg-type]
        self.most_open = max(self.most_open, len(self.open))
        try:
            _, (prompt,) = await self.llm.renderer.render_chat_async(
                [conversation], self.chat_params, self.tok_params
            )
            params.output_kind = self.final_only
            final = None
            async for output in self.llm.generate(prompt, params, f"teacher-{next(self._ids)}"):
                final = output
            if final is None:
                raise RuntimeError("the engine finished the request without an output")
            return final
        except asyncio.CancelledError:
            if self._closing:
                raise TeacherError("the vllm teacher was shut down") from None
            raise
        except Exception as exc:  # noqa: BLE001 - any engine failure fails this request only
            message = f"vllm engine failed: {type(exc).__name__}: {exc}"[:500]
            log.error("vllm teacher: %s", message)
            raise TeacherError(message) from exc
        finally:
            self.open.discard(task)  # type: ignore[arg-type]

    async def generate(self, conversation: list[dict[str, Any]], params: Any) -> Any:
        """Run one request on the engine's loop from any other loop; cancelling the caller
        aborts the request in the engine. Raises TeacherError (see `_generate`)."""
        if self._closing:
            raise TeacherError("the vllm teacher was shut down")
        future = asyncio.run_coroutine_threadsafe(self._generate(conversation, params), self.loop)
        return await asyncio.wrap_future(future)

    async def _close(self) -> None:
        self._closing = True
        for task in list(self.open):
            task.cancel()  # aborts the request in the engine; its caller gets TeacherError
        if self.open:
            await asyncio.wait(list(self.open), timeout=SHUTDOWN_TIMEOUT_S)
        self.llm.shutdown(timeout=SHUTDOWN_TIMEOUT_S)

    def close(self) -> None:
        """Fail requests still open with TeacherError, stop the engine (its engine-core
        process included) and the loop."""
        try:
            asyncio.run_coroutine_threadsafe(self._close(), self.loop).result()
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=SHUTDOWN_TIMEOUT_S)
        if not self._thread.is_alive():
            self.loop.close()


# One engine per process and set of engine arguments: every teacher (every DoFn instance,
# every unpickled copy) with the same arguments shares it.
_ENGINES: dict[str, _Engine] = {}
_ENGINES_LOCK = threading.Lock()


def _engine_key(args: Mapping[str, Any]) -> str:
    return json.dumps(args, sort_keys=True, default=repr)


def _acquire_engine(args: dict[str, Any]) -> _Engine:
    with _ENGINES_LOCK:  # held while an engine starts: a second caller waits and shares it
        key = _engine_key(args)
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = _Engine(args)
        engine.users += 1
        return engine


def _release_engine(engine: _Engine) -> None:
    with _ENGINES_LOCK:
        engine.users -= 1
        if engine.users > 0:
            return
        _ENGINES.pop(_engine_key(engine.args), None)
    engine.close()


def chat_conversation(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """OpenAI-style chat messages (`to_openai_messages`) with every image part carrying a
    `uuid`: the message's `image_ids` when given, else the sha256 of its PNG bytes. vLLM keys
    its multi-modal processor cache and prefix cache by that id instead of hashing the image
    again on every turn."""
    conversation = to_openai_messages(messages)
    for message, converted in zip(messages, conversation, strict=True):
        if not message.images:
            continue
        ids = message.image_ids or tuple(hashlib.sha256(p).hexdigest() for p in message.images)
        parts = (part for part in converted["content"] if part["type"] == "image_url")
        for part, image_id in zip(parts, ids, strict=True):
            part["uuid"] = image_id
    return conversation


class VLLMTeacher:
    """Chat completions from an in-process vLLM engine with continuous batching.

    `complete()` renders its messages the way `vllm.LLM.chat` does and sends the request into
    the running `AsyncLLM` at once, from any event loop: a request that arrives while others
    run joins the engine's batch at its next step and returns as soon as its own generation
    ends (no call to wait for). Prefix caching is on, so the earlier turns of a conversation
    stay cached, and every image carries its id (see `chat_conversation`), so vLLM hashes and
    preprocesses it once, not on every turn.

    One engine per worker process: teachers with the same engine arguments share it (every
    DoFn instance, every unpickled copy), created on first use or by `load()` (a DoFn's
    `setup`), and freed when the last teacher holding it calls `shutdown()`. `close()` keeps
    it (it outlives each `asyncio.run`). Picklable before and after loading: the engine stays
    behind and the copy attaches to its process's engine.

    A request the engine rejects (too long a prompt, too many images) or fails on raises
    TeacherError for that request alone; each failure is logged.

    `structured_outputs` (optional, picklable for Beam) returns per request the keyword
    arguments of vLLM's `StructuredOutputsParams` (`regex`, `choice`, `json`, `grammar`) that
    constrain the reply, or None to leave it free.

    On CPU, vLLM 0.32 kills the engine ("CPU Generator does not use offset") when a request
    with a seed is prefilled in chunks: there, given `max_model_len`, chunked prefill is turned
    off by default (`engine_args`); `engine_kwargs` can say otherwise.

    The constructor raises ValueError if `max_images_per_prompt` < 0.
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
        engine_kwargs: dict[str, Any] | None = None,
        structured_outputs: StructuredOutputs | None = None,
    ) -> None:
        if max_images_per_prompt < 0:
            raise ValueError(f"max_images_per_prompt must be >= 0, got {max_images_per_prompt}")
        self.model = model
        self.tensor_parallel_size = tensor_parallel_size
        self.dtype = dtype
        self.max_model_len = max_model_len
        self.max_images_per_prompt = max_images_per_prompt
        self.gpu_memory_utilization = gpu_memory_utilization
        self.enforce_eager = enforce_eager
        self.engine_kwargs = dict(engine_kwargs or {})
        self.structured_outputs = structured_outputs
        self._counters = {
            "requests": 0,
            "failures": 0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "cached_prompt_tokens": 0,
        }
        self._init_runtime()

    def _init_runtime(self) -> None:
        self._engine: _Engine | None = None
        self._params_cls: Any = None  # vllm.SamplingParams once loaded
        self._structured_cls: Any = None  # vllm's StructuredOutputsParams once loaded
        self._load_lock = threading.Lock()
        self._stats_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"VLLMTeacher(model={self.model!r}, loaded={self.loaded})"

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
        return self._engine is not None

    @property
    def engine(self) -> Any:
        """The process's `AsyncLLM` this teacher uses, or None before `load()`."""
        return None if self._engine is None else self._engine.llm

    def engine_args(self, cpu: bool = False) -> dict[str, Any]:
        """The keyword arguments of vLLM's `AsyncEngineArgs`: the constructor's options with
        prefix caching on, `engine_kwargs` last (they win). On a CPU platform (`cpu`) with a
        known `max_model_len`, chunked prefill is turned off unless `engine_kwargs` says
        otherwise (see the class docstring: vLLM 0.32 on CPU stops its engine on a seeded
        request prefilled in chunks)."""
        args: dict[str, Any] = {
            "model": self.model,
            "tensor_parallel_size": self.tensor_parallel_size,
            "dtype": self.dtype,
            "gpu_memory_utilization": self.gpu_memory_utilization,
            "enforce_eager": self.enforce_eager,
            "limit_mm_per_prompt": {"image": self.max_images_per_prompt},
            "enable_prefix_caching": True,
            "disable_log_stats": True,  # as vllm.LLM: no periodic stats lines per worker
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
        """Attach to this process's engine for these arguments, starting it if there is none
        (blocks tens of seconds); later calls return at once. Raises ModuleNotFoundError
        naming scripts/setup_vllm.sh when vllm is missing, and whatever vLLM raises on a bad
        model or configuration."""
        with self._load_lock:
            if self._engine is not None:
                return
            try:
                import vllm
                from vllm.platforms import current_platform
                from vllm.sampling_params import StructuredOutputsParams
            except ModuleNotFoundError as exc:
                raise ModuleNotFoundError(MISSING_VLLM) from exc
            args = self.engine_args(cpu=current_platform.is_cpu())
            log.info("vllm teacher: attaching to an engine for %s", self.model)
            self._engine = _acquire_engine(args)
            self._params_cls, self._structured_cls = vllm.SamplingParams, StructuredOutputsParams

    def usage(self) -> dict[str, int]:
        """Counters of this teacher since construction: requests, failures (requests that
        raised TeacherError), prompt and completion tokens, and prompt tokens the engine
        found in its prefix cache; plus `most_in_engine`, the most requests its engine has
        held at once (shared by every teacher on that engine)."""
        with self._stats_lock:
            counters = dict(self._counters)
        counters["most_in_engine"] = self._engine.most_open if self._engine is not None else 0
        return counters

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
        """One chat completion, sent into the running engine at once. Loads the engine first
        if needed (see `load` for what that raises). Raises TeacherError if the engine fails
        on this request or is shut down while it runs."""
        if self._engine is None:
            await asyncio.to_thread(self.load)
        engine = self._engine
        if engine is None:
            raise TeacherError("the vllm teacher was shut down")
        sampling = self._sampling(messages, params)
        self._count(requests=1)
        try:
            output = await engine.generate(chat_conversation(messages), sampling)
        except TeacherError:
            self._count(failures=1)
            raise
        return self._reply(output)

    async def close(self) -> None:
        """Nothing to release per event loop: the engine outlives each `asyncio.run` (a Beam
        bundle) and is freed by `shutdown()`."""

    def shutdown(self) -> None:
        """Let go of the engine; the last teacher holding it stops it (requests still open
        fail with TeacherError, the engine-core process exits). A later `complete()` or
        `load()` attaches again, starting a new engine if none is left."""
        with self._load_lock:
            engine, self._engine = self._engine, None
        if engine is not None:
            _release_engine(engine)
            log.info("vllm teacher: released the engine for %s", self.model)

    def _reply(self, output: Any) -> TeacherReply:
        completion = output.outputs[0]
        prompt_tokens = len(output.prompt_token_ids or ())
        completion_tokens = len(completion.token_ids)
        finish_reason = completion.finish_reason or "stop"
        self._count(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cached_prompt_tokens=output.num_cached_tokens or 0,
        )
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
