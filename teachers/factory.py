"""The teacher part of a stage config, and building the teacher it names on a worker."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from drawreason.teachers.base import SamplingParams, Teacher

log = logging.getLogger(__name__)

TEACHER_KINDS = ("", "openai", "vllm")
BATCH_SIZE_DEPRECATED = (
    "teacher.batch_size is deprecated and has no effect: the vllm teacher sends every request "
    "into the running engine as it arrives (continuous batching, no batch call to wait for). "
    "Bound the requests open per worker with teacher.max_in_flight, and the engine's own batch "
    "with teacher.engine_args.max_num_seqs; remove batch_size from the config"
)
# Settings that change how replies are fetched, never what they are: a run may resume with
# other values (a server restarted on another port), and they stay out of the config hash.
OPERATIONAL_KEYS = (
    "endpoint",
    "api_key_env",
    "timeout_s",
    "max_retries",
    "max_in_flight",
    "batch_size",
    "cache",
)


@dataclass(frozen=True)
class TeacherConfig:
    """Which teacher VLM rolls out trajectories on real data, and how.

    kind: "" (none: real-data inputs are skipped, with a note), `openai` (any OpenAI-compatible
      server: `vllm serve`, SGLang, hosted APIs) or `vllm` (an in-process vLLM `AsyncLLM`
      engine, one per worker process, shared by every DoFn instance there).
    model: the served model name (openai) or a local path / hub name (vllm).
    endpoint: the server's base URL, e.g. http://127.0.0.1:8000/v1 (openai).
    api_key_env: the environment variable holding the API key (openai); the key itself is
      never part of a config, a log or an output.
    samples_per_item: trajectories per question (K), each with its own derived seed.
    max_calls: the turn budget per trajectory, the final answer included (docs/protocol.md).
    max_in_flight: trajectories open at once per worker process (so at most that many requests
      in flight); a slot goes to the next job the moment a trajectory ends. Together (workers x
      max_in_flight) they should be several times what the serving engine runs at once (vLLM's
      `max_num_seqs`): the engine's queue then holds a request of every open trajectory and
      serves them in turn, and the trajectories that turn out long are open early instead of
      starting near the end of the run. Each open trajectory holds its images in memory.
    batch_size: deprecated, no effect (a warning says so when set): the vllm teacher no
      longer groups requests into engine calls; see max_in_flight and engine_args.max_num_seqs.
    structured_outputs: optional `module:function`, importable on the workers, that returns per
      request (called with its chat messages) the keyword arguments of vLLM's
      `StructuredOutputsParams` (`regex`, `choice`, `json`, `grammar`) or None for a free
      reply. The vllm teacher applies them in process, the openai teacher sends them as
      `structured_outputs` (a server that understands it: `vllm serve`). Constrained replies
      are other replies, so unlike the operational keys this one is part of the config.
    cache: where teacher replies are cached for resume (a folder or gs:// / s3:// URI);
      default `<output>/cache/teacher`.
    tensor_parallel_size, dtype, max_model_len, gpu_memory_utilization, enforce_eager,
    engine_args: vLLM's engine arguments (`AsyncEngineArgs`, as for `vllm.LLM`; vllm); prefix
    caching is on unless engine_args says otherwise, and the per-prompt image limit is the
    stage's `max_images`.
    """

    kind: str = ""
    model: str = ""
    endpoint: str = ""
    api_key_env: str = "OPENAI_API_KEY"
    samples_per_item: int = 1
    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 1024
    max_calls: int = 10
    timeout_s: float = 120.0
    max_retries: int = 5
    max_in_flight: int = 128
    batch_size: int = 0
    structured_outputs: str = ""
    cache: str = ""
    tensor_parallel_size: int = 1
    dtype: str = "auto"
    max_model_len: int = 0
    gpu_memory_utilization: float = 0.9
    enforce_eager: bool = False
    engine_args: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in TEACHER_KINDS:
            raise ValueError(f"teacher kind {self.kind!r} is not one of openai, vllm")
        if self.kind and not self.model:
            raise ValueError(f"teacher {self.kind} needs a model (--teacher-model)")
        if self.kind == "openai" and not self.endpoint:
            raise ValueError("teacher openai needs an endpoint (--teacher-endpoint URL)")
        for key in ("samples_per_item", "max_calls", "max_in_flight"):
            if getattr(self, key) < 1:
                raise ValueError(f"teacher {key} must be >= 1, got {getattr(self, key)}")
        if self.batch_size < 0:
            raise ValueError(f"teacher batch_size must be >= 0, got {self.batch_size}")
        if self.batch_size:
            log.warning(BATCH_SIZE_DEPRECATED)
        if self.structured_outputs:
            module, _, name = self.structured_outputs.partition(":")
            if not module or not name:
                raise ValueError(
                    "teacher structured_outputs must be `module:function`, got "
                    f"{self.structured_outputs!r}"
                )
        self.sampling()  # validates temperature, top_p, max_tokens

    def sampling(self, seed: int | None = None) -> SamplingParams:
        return SamplingParams(self.temperature, self.top_p, self.max_tokens, seed)

    @property
    def producer(self) -> str:
        return f"teacher:{self.kind}:{self.model}"


def load_structured_outputs(path: str) -> Callable[..., Any] | None:
    """The function `module:function` names (None for ""). Raises ValueError when it cannot
    be imported or is not callable."""
    if not path:
        return None
    module, _, name = path.partition(":")
    try:
        hook = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"teacher structured_outputs {path!r}: {exc}") from exc
    if not callable(hook):
        raise ValueError(f"teacher structured_outputs {path!r} is not callable")
    return hook


def build_teacher(config: TeacherConfig, max_images: int = 42) -> Teacher:
    """The teacher `config` names, ready to use (the vLLM engine is loaded here, or the one
    this process already runs with the same settings is shared, so call this from a DoFn's
    `setup`). Raises ValueError when no teacher is configured or its structured-outputs hook
    cannot be loaded."""
    hook = load_structured_outputs(config.structured_outputs)
    if config.kind == "openai":
        from drawreason.teachers.openai_backend import OpenAITeacher

        return OpenAITeacher(
            config.endpoint,
            config.model,
            api_key_env=config.api_key_env,
            timeout_s=config.timeout_s,
            max_retries=config.max_retries,
            max_in_flight=config.max_in_flight,
            structured_outputs=hook,
        )
    if config.kind == "vllm":
        from drawreason.teachers.vllm_backend import VLLMTeacher

        teacher = VLLMTeacher(
            config.model,
            tensor_parallel_size=config.tensor_parallel_size,
            dtype=config.dtype,
            max_model_len=config.max_model_len or None,
            max_images_per_prompt=max_images,
            gpu_memory_utilization=config.gpu_memory_utilization,
            enforce_eager=config.enforce_eager,
            engine_kwargs=dict(config.engine_args),
            structured_outputs=hook,
        )
        teacher.load()
        return teacher
    raise ValueError("no teacher configured (teacher.kind is empty)")
