"""A teacher behind any OpenAI-compatible chat completions server (vllm serve, SGLang, APIs)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import random
import socket
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import openai

try:  # the HTTP library openai builds on: httpx2 from openai 3, httpx before
    import httpx2 as httpx
except ImportError:  # pragma: no cover - older openai
    import httpx

from drawreason.teachers.base import (
    ChatMessage,
    SamplingParams,
    TeacherError,
    TeacherReply,
    to_openai_messages,
)

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 30.0  # one wait never exceeds this, whatever the attempt or Retry-After says


def server_listening(endpoint: str, timeout_s: float = 2.0) -> bool:
    """Something accepts TCP connections at the endpoint's host and port."""
    url = urllib.parse.urlsplit(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "localhost", port), timeout=timeout_s):
            return True
    except OSError:
        return False


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: connection failures and timeouts, 429, and any 5xx status."""
    if isinstance(exc, openai.APIConnectionError | openai.RateLimitError):
        return True  # APITimeoutError is an APIConnectionError
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code >= 500
    return False


class OpenAITeacher:
    """Chat completions with images as PNG data URLs.

    The API key is read from the environment variable `api_key_env` only ("EMPTY" when unset,
    as local servers expect) and never appears in logs, raw replies, usage or errors. Transient
    errors (see `is_transient`) are retried up to `max_retries` times with exponential backoff
    and jitter; any other error fails at once. A connection error when nothing listens at the
    endpoint (the server is down, or was never started) is not retried: the call fails at once
    with "no server at URL: is it running?", logged once per teacher. At most `max_in_flight`
    requests run at a time.

    `structured_outputs` (optional, picklable) returns per request the constraint to send as
    vLLM's `structured_outputs` request field (`{"regex": ...}`, `{"choice": [...]}`, ...), or
    None for a free reply; only servers that know the field (`vllm serve`) honour it.
    """

    name = "openai"

    def __init__(
        self,
        endpoint: str,
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        timeout_s: float = 120.0,
        max_retries: int = 5,
        max_in_flight: int = 64,
        backoff_s: float = 0.5,
        structured_outputs: Callable[[Sequence[ChatMessage]], Mapping[str, Any] | None]
        | None = None,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self.endpoint = endpoint
        self.model = model
        self.api_key_env = api_key_env
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.max_in_flight = max_in_flight
        self.backoff_s = backoff_s
        self.structured_outputs = structured_outputs
        self._counters = {
            "requests": 0,
            "retries": 0,
            "failures": 0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
        }
        # The HTTP client and the semaphore belong to one event loop; `_bind` makes new ones
        # when a later asyncio.run (a new Beam bundle) brings a new loop.
        self._client: openai.AsyncOpenAI | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._jitter = random.Random()  # timing only: never affects generated data
        self._warned_unreachable = False

    def __repr__(self) -> str:  # no key, ever
        return f"OpenAITeacher(endpoint={self.endpoint!r}, model={self.model!r})"

    def __getstate__(self) -> dict[str, Any]:  # picklable for Beam: drop loop-bound parts
        state = dict(self.__dict__)
        state.update(_client=None, _semaphore=None, _loop=None)
        return state

    def _secret(self) -> str:
        return os.environ.get(self.api_key_env) or ""

    def _bind(self) -> tuple[openai.AsyncOpenAI, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        if self._client is None or self._semaphore is None or self._loop is not loop:
            # Keep a connection alive for every request in flight: openai's default pool keeps
            # 100, so above that connections would be closed and reopened turn after turn.
            limits = httpx.Limits(
                max_connections=max(self.max_in_flight, 100),
                max_keepalive_connections=self.max_in_flight,
            )
            self._client = openai.AsyncOpenAI(
                base_url=self.endpoint,
                api_key=self._secret() or "EMPTY",
                max_retries=0,
                timeout=self.timeout_s,
                http_client=openai.DefaultAsyncHttpxClient(limits=limits),
            )
            self._semaphore = asyncio.Semaphore(self.max_in_flight)
            self._loop = loop
        return self._client, self._semaphore

    def _redact(self, text: str) -> str:
        secret = self._secret()
        return text.replace(secret, "***") if secret else text

    def _describe(self, exc: BaseException) -> str:
        status = getattr(exc, "status_code", None)
        head = f"HTTP {status}" if status is not None else type(exc).__name__
        return self._redact(f"{head}: {exc}")[:500]

    def _delay(self, attempt: int, exc: BaseException) -> float:
        delay = self.backoff_s * (2**attempt) * (0.5 + self._jitter.random())
        response = getattr(exc, "response", None)
        retry_after = response.headers.get("retry-after") if response is not None else None
        if retry_after:
            try:
                delay = max(delay, float(retry_after))
            except ValueError:
                pass  # an HTTP date instead of seconds: keep our own backoff
        return min(delay, MAX_BACKOFF_S)

    def usage(self) -> dict[str, int]:
        """Counters since construction: requests (attempts sent), retries, failures (calls
        that raised TeacherError), prompt and completion tokens."""
        return dict(self._counters)

    async def complete(
        self, messages: Sequence[ChatMessage], params: SamplingParams
    ) -> TeacherReply:
        """One chat completion. Raises TeacherError after the retries, or at once on a
        non-transient error (4xx other than 429, a malformed response)."""
        client, semaphore = self._bind()
        payload = to_openai_messages(messages)
        extra: dict[str, Any] = {} if params.seed is None else {"seed": params.seed}
        constraint = self.structured_outputs(messages) if self.structured_outputs else None
        if constraint is not None:
            extra["extra_body"] = {"structured_outputs": dict(constraint)}
        attempt = 0
        while True:
            try:
                async with semaphore:
                    self._counters["requests"] += 1
                    response = await client.chat.completions.create(
                        model=self.model,
                        messages=payload,  # type: ignore[arg-type]
                        temperature=params.temperature,
                        top_p=params.top_p,
                        max_tokens=params.max_tokens,
                        **extra,
                    )
                return dataclasses.replace(self._reply(response), retries=attempt)
            except openai.OpenAIError as exc:
                if self._server_gone(exc):
                    self._counters["failures"] += 1
                    raise TeacherError(f"no server at {self.endpoint}: is it running?") from None
                if not is_transient(exc) or attempt >= self.max_retries:
                    self._counters["failures"] += 1
                    why = f"after {attempt + 1} attempt(s)" if is_transient(exc) else "no retry"
                    raise TeacherError(f"{self._describe(exc)} ({why})") from None
                delay = self._delay(attempt, exc)
                log.warning(
                    "teacher %s: %s; retry %d/%d in %.2fs",
                    self.model,
                    self._describe(exc),
                    attempt + 1,
                    self.max_retries,
                    delay,
                )
                attempt += 1
                self._counters["retries"] += 1
                await asyncio.sleep(delay)

    def _server_gone(self, exc: BaseException) -> bool:
        """A connection error (not a timeout) and nothing listens at the endpoint; warns once."""
        if not isinstance(exc, openai.APIConnectionError) or isinstance(
            exc, openai.APITimeoutError
        ):
            return False
        if server_listening(self.endpoint):
            return False  # a dropped connection to a live server: worth a retry
        if not self._warned_unreachable:
            self._warned_unreachable = True
            log.warning("teacher %s: no server at %s: is it running?", self.model, self.endpoint)
        return True

    def _reply(self, response: Any) -> TeacherReply:
        raw = response.model_dump(mode="json", exclude_none=True)
        if not response.choices:
            self._counters["failures"] += 1
            raise TeacherError(f"response {raw.get('id', '?')} has no choices (no retry)")
        choice = response.choices[0]
        usage = response.usage
        prompt_tokens = int(usage.prompt_tokens) if usage else 0
        completion_tokens = int(usage.completion_tokens) if usage else 0
        self._counters["prompt_tokens"] += prompt_tokens
        self._counters["completion_tokens"] += completion_tokens
        return TeacherReply(
            text=choice.message.content or "",
            finish_reason=choice.finish_reason or "stop",
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            raw=raw,
        )

    async def close(self) -> None:
        """Close the HTTP client of the current loop; a later call opens a new one."""
        client, loop = self._client, self._loop
        self._client, self._semaphore, self._loop = None, None, None
        if client is not None and loop is asyncio.get_running_loop():
            await client.close()  # a client of a finished loop cannot be closed from this one
