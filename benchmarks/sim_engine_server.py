"""A loopback OpenAI-compatible server that simulates a continuous-batching inference engine.

The engine runs at most `capacity` sequences at once; further requests wait in a FIFO queue.
A running sequence needs one decode step per generated token plus `prefill_s / per_token_s`
steps of prefill, and a step takes `per_token_s * (1 + batch_slowdown * (running - 1) /
(capacity - 1))`, so a full batch serves each sequence a little slower, as a real engine does.
Time is simulated as a fluid (no per-token ticks): on every arrival or completion every running
sequence is advanced by the elapsed time, so the schedule is exact whatever the event loop's
jitter.

Replies follow docs/protocol.md: the item key is read from a `[item:KEY]` tag in
the first user message, and a seeded plan gives the trajectory a heavy-tailed number of draw
turns (truncated zipf on 1..max_draw_turns) and a token length per turn; every draw turn is a
valid Object Mapper or Path Tracer call (existing index, in-bounds coordinates, a new label),
the last turn an answer. Both rollout drivers therefore see exactly the same work.

The server runs in its own process (`SimEngineServer`) so its CPU does not share the client's
interpreter. Besides POST /v1/chat/completions it answers POST /sim/reset (clear the request
log, optionally change timing fields of `SimConfig`), GET /sim/stats (the request log) and
POST /sim/shutdown.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import json
import multiprocessing
import random
import re
import struct
import time
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from drawreason.drawing.format import format_answer_turn, format_tool_turn
from drawreason.schemas.records import BoxOp, LineOp, Operation

KEY_PATTERN = re.compile(r"\[item:([^\]\s]+)\]")
DATA_URL_PREFIX = "data:image/png;base64,"
FILLER = (
    "the marked region lies left of the object so check the drawing again before answering".split()
)
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found"}


@dataclass(frozen=True)
class SimConfig:
    """Engine timing and the workload's shape (see the module docstring)."""

    capacity: int = 32
    per_token_s: float = 0.003
    batch_slowdown: float = 0.25
    prefill_s: float = 0.025
    max_draw_turns: int = 9
    tail_alpha: float = 1.5
    min_tokens: int = 64
    max_tokens: int = 256

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {self.capacity}")
        if self.max_draw_turns < 1:
            raise ValueError(f"max_draw_turns must be >= 1, got {self.max_draw_turns}")
        if not 1 <= self.min_tokens <= self.max_tokens:
            raise ValueError(f"need 1 <= min_tokens <= max_tokens, got {self}")

    def step_s(self, running: int) -> float:
        """Seconds of one decode step with `running` sequences in the batch."""
        crowding = (running - 1) / (self.capacity - 1) if self.capacity > 1 else 0.0
        return self.per_token_s * (1.0 + self.batch_slowdown * crowding)


@dataclass(frozen=True)
class TrajectoryPlan:
    """What the simulated model does for one item: draw turns, then an answer; the number of
    reply words (= tokens) asked for at each turn, answer included."""

    draw_turns: int
    tokens: tuple[int, ...]


def plan_trajectory(key: str, config: SimConfig) -> TrajectoryPlan:
    """The seeded plan of item `key`: draw turns from a zipf(`tail_alpha`) truncated to
    1..max_draw_turns, token targets uniform in [min_tokens, max_tokens]."""
    rng = random.Random(hashlib.sha256(key.encode("utf-8")).digest())
    turns = range(1, config.max_draw_turns + 1)
    draws = rng.choices(turns, weights=[k**-config.tail_alpha for k in turns])[0]
    tokens = tuple(rng.randint(config.min_tokens, config.max_tokens) for _ in range(draws + 1))
    return TrajectoryPlan(draws, tokens)


def _message_text(message: dict[str, Any]) -> str:
    content = message.get("content", "")
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content if p.get("type") == "text")


def _image_urls(messages: list[dict[str, Any]]) -> list[str]:
    urls = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            urls.extend(p["image_url"]["url"] for p in content if p.get("type") == "image_url")
    return urls


def _png_size(url: str) -> tuple[int, int]:
    """(width, height) from the IHDR chunk of a PNG data URL (only its head is decoded)."""
    if not url.startswith(DATA_URL_PREFIX):
        raise ValueError(f"not a PNG data URL: {url[:40]!r}")
    head = base64.b64decode(url[len(DATA_URL_PREFIX) : len(DATA_URL_PREFIX) + 32])
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def _operation(rng: random.Random, turn: int, images: int, size: tuple[int, int]) -> Operation:
    """A valid operation: an existing image, in-bounds coordinates, a label new at this turn."""
    width, height = size
    index = rng.randint(1, images)
    x1, x2 = sorted(rng.sample(range(width + 1), 2))
    y1, y2 = sorted(rng.sample(range(height + 1), 2))
    if rng.random() < 0.5:
        return BoxOp(index, (x1, y1, x2, y2), f"obj{turn}")
    return LineOp(index, (x1, y1), (x2, y2), f"path{turn}")


@dataclass(frozen=True)
class SimReply:
    """The simulated model's reply to one request, with the trajectory and turn it is for."""

    key: str
    turn: int
    text: str


def reply_for(messages: list[dict[str, Any]], config: SimConfig) -> SimReply:
    """The simulated model's reply to a chat request (see the module docstring). Raises
    ValueError when the first user message has no `[item:KEY]` tag or no image."""
    first_user = next((m for m in messages if m.get("role") == "user"), None)
    found = KEY_PATTERN.search(_message_text(first_user)) if first_user else None
    urls = _image_urls(messages)
    if found is None or not urls:
        raise ValueError("the first user message needs an [item:KEY] tag and an image")
    key = found.group(1)
    plan = plan_trajectory(key, config)
    turn = sum(m.get("role") == "assistant" for m in messages)
    rng = random.Random(f"{key}/{turn}")
    words = plan.tokens[min(turn, plan.draw_turns)]
    think = " ".join(FILLER[i % len(FILLER)] for i in range(words))
    if turn >= plan.draw_turns:
        return SimReply(key, turn, format_answer_turn(think, "A"))
    op = _operation(rng, turn, len(urls), _png_size(urls[0]))
    return SimReply(key, turn, format_tool_turn(think, [op]))


@dataclass
class RequestLog:
    """One chat request as the engine saw it (time.monotonic seconds, comparable across
    processes on the same machine): arrival, admission into the batch, completion."""

    key: str
    turn: int
    tokens: int
    arrival: float
    start: float = 0.0
    end: float = 0.0


@dataclass
class _Sequence:
    log: RequestLog
    remaining: float  # decode steps left, prefill included
    done: asyncio.Future[None] = field(repr=False)


class BatchEngine:
    """The simulated engine: FIFO admission into at most `capacity` running sequences."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.logs: list[RequestLog] = []
        self._queue: deque[_Sequence] = deque()
        self._running: list[_Sequence] = []
        self._wake = asyncio.Event()
        self._clock = time.monotonic()

    def reset(self, config: SimConfig) -> None:
        """New timing for later requests and an empty log; requests in the engine carry on."""
        self.config = config
        self.logs = []

    async def generate(self, key: str, turn: int, tokens: int) -> None:
        """Wait until a sequence of `tokens` generated tokens has been served."""
        config = self.config
        prefill = config.prefill_s / config.per_token_s if config.per_token_s > 0 else 0.0
        log = RequestLog(key, turn, tokens, time.monotonic())
        self.logs.append(log)
        sequence = _Sequence(log, tokens + prefill, asyncio.get_running_loop().create_future())
        self._queue.append(sequence)
        self._wake.set()
        await sequence.done

    def _advance(self, now: float) -> None:
        """Progress every running sequence to `now`; finish those with no steps left."""
        step = self.config.step_s(len(self._running))
        elapsed = now - self._clock
        self._clock = now
        still = []
        for sequence in self._running:
            sequence.remaining = sequence.remaining - elapsed / step if step > 0 else 0.0
            if sequence.remaining <= 1e-9:
                sequence.log.end = now
                sequence.done.set_result(None)
            else:
                still.append(sequence)
        self._running = still

    async def run(self) -> None:
        """The scheduler loop: advance, admit from the queue, sleep until the next completion
        or arrival."""
        while True:
            now = time.monotonic()
            self._advance(now)
            while self._queue and len(self._running) < self.config.capacity:
                sequence = self._queue.popleft()
                sequence.log.start = now
                self._running.append(sequence)
            timeout = None
            if self._running:
                step = self.config.step_s(len(self._running))
                timeout = min(s.remaining for s in self._running) * step
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass


class _HttpServer:
    """A minimal HTTP/1.1 keep-alive server over asyncio streams for the routes above."""

    def __init__(self, config: SimConfig) -> None:
        self.engine = BatchEngine(config)
        self.stop = asyncio.Event()

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                method, path, _ = head[0].split(" ", 2)
                headers = dict(
                    (name.strip().lower(), value.strip())
                    for name, value in (line.split(":", 1) for line in head[1:] if line)
                )
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                status, doc = await self.route(method, path.rstrip("/"), body)
                data = json.dumps(doc).encode("utf-8")
                writer.write(
                    f"HTTP/1.1 {status} {REASONS[status]}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(data)}\r\n\r\n".encode("latin-1")
                    + data
                )
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client closed its keep-alive connection
        finally:
            writer.close()

    async def route(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        if method == "POST" and path == "/v1/chat/completions":
            return await self.complete(json.loads(body))
        if method == "POST" and path == "/sim/reset":
            fields = json.loads(body) if body else {}
            self.engine.reset(dataclasses.replace(self.engine.config, **fields))
            return 200, {"config": dataclasses.asdict(self.engine.config)}
        if method == "GET" and path == "/sim/stats":
            logs = [dataclasses.asdict(log) for log in self.engine.logs]
            return 200, {"config": dataclasses.asdict(self.engine.config), "requests": logs}
        if method == "POST" and path == "/sim/shutdown":
            self.stop.set()
            return 200, {}
        return 404, {"error": {"message": f"no route {method} {path}"}}

    async def complete(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        messages = body.get("messages") or []
        try:
            reply = reply_for(messages, self.engine.config)
        except ValueError as exc:
            return 400, {"error": {"message": str(exc)}}
        tokens = len(reply.text.split())
        await self.engine.generate(reply.key, reply.turn, tokens)
        return 200, {
            "id": f"chatcmpl-{reply.key}-{reply.turn}",
            "object": "chat.completion",
            "created": 1700000000,
            "model": body.get("model", "sim-vlm"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 0, "completion_tokens": tokens, "total_tokens": tokens},
        }


async def _serve(config: SimConfig, ports: multiprocessing.Queue) -> None:
    http = _HttpServer(config)
    server = await asyncio.start_server(http.connection, "127.0.0.1", 0, backlog=1024)
    ports.put(server.sockets[0].getsockname()[1])
    engine = asyncio.create_task(http.engine.run())
    await http.stop.wait()
    engine.cancel()
    server.close()


def _serve_process(config: SimConfig, ports: multiprocessing.Queue) -> None:
    asyncio.run(_serve(config, ports))


class SimEngineServer:
    """The simulated engine in a child process. `with SimEngineServer(config) as server:` then
    `server.base_url` ("http://127.0.0.1:PORT/v1"), `reset(**timing)`, `stats()`."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.port = 0
        self._process: multiprocessing.process.BaseProcess | None = None

    def __enter__(self) -> SimEngineServer:
        context = multiprocessing.get_context("spawn")
        ports: multiprocessing.Queue = context.Queue()
        self._process = context.Process(
            target=_serve_process, args=(self.config, ports), daemon=True
        )
        self._process.start()
        self.port = ports.get(timeout=60)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is None:
            return
        try:
            self._call("POST", "/sim/shutdown")
        except OSError:
            pass  # already gone: join below returns at once
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _call(self, method: str, path: str, doc: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if doc is None else json.dumps(doc).encode("utf-8")
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=data, method=method
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def reset(self, **timing: float) -> None:
        """Clear the request log; `timing` overrides fields of the current SimConfig."""
        self._call("POST", "/sim/reset", dict(timing))

    def stats(self) -> tuple[SimConfig, list[RequestLog]]:
        """The engine's current config and its request log since the last reset."""
        doc = self._call("GET", "/sim/stats")
        return SimConfig(**doc["config"]), [RequestLog(**log) for log in doc["requests"]]
