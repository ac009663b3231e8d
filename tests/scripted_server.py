"""A real OpenAI-compatible HTTP server on loopback that answers from a script, with faults."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Script = Callable[[list[dict[str, Any]]], "str | tuple[str, str]"]
DATA_URL_PREFIX = "data:image/png;base64,"
FAULT_KINDS = ("status", "sleep", "drop")


# --- helpers for scripts and tests: read an OpenAI `messages` list ---------------------------


def message_text(message: dict[str, Any]) -> str:
    """The text of a message, string content or the text parts joined with `<image>` between."""
    content = message.get("content", "")
    if isinstance(content, str):
        return content
    out = []
    for part in content:
        out.append(part["text"] if part.get("type") == "text" else "<image>")
    return "".join(out)


def assistant_turns(messages: list[dict[str, Any]]) -> int:
    """How many assistant replies the conversation already holds (the turn being asked for)."""
    return sum(m.get("role") == "assistant" for m in messages)


def first_user_text(messages: list[dict[str, Any]]) -> str:
    return next((message_text(m) for m in messages if m.get("role") == "user"), "")


def image_urls(messages: list[dict[str, Any]]) -> list[str]:
    """Every image_url in order of appearance."""
    urls = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            urls.extend(p["image_url"]["url"] for p in content if p.get("type") == "image_url")
    return urls


def decode_data_url(url: str) -> bytes:
    """PNG bytes of a `data:image/png;base64,...` URL; ValueError for anything else."""
    if not url.startswith(DATA_URL_PREFIX):
        raise ValueError(f"not a PNG data URL: {url[:40]!r}")
    return base64.b64decode(url[len(DATA_URL_PREFIX) :], validate=True)


def _digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def response_id(body: dict[str, Any]) -> str:
    """The id the server gives its answer to a request with this JSON body (by content)."""
    return "chatcmpl-" + _digest(body)


# --- the server --------------------------------------------------------------------------------


@dataclass
class Fault:
    """Applied to the next `times` requests that `match` (all requests when None): `status`
    answers HTTP `status`; `sleep` waits `sleep_s` before answering normally; `drop` closes
    the connection without an answer."""

    kind: str
    times: int = 1
    status: int = 500
    sleep_s: float = 5.0
    match: Callable[[list[dict[str, Any]]], bool] | None = None


@dataclass(frozen=True)
class ReceivedRequest:
    """A request as received: its number, path, JSON body, Authorization header, the fault
    applied to it ("" when answered from the script), its arrival time and the client's port
    (one per connection)."""

    number: int
    path: str
    body: dict[str, Any]
    authorization: str
    fault: str
    at: float
    port: int = 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stalls
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        return None

    def _send_json(self, status: int, doc: dict[str, Any], headers: dict[str, str] | None = None):
        data = json.dumps(doc).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            self.close_connection = True  # the client gave up (timeout): nothing to answer

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            model = self.server.owner.model
            self._send_json(200, {"object": "list", "data": [{"id": model, "object": "model"}]})
        else:
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._send_json(400, {"error": {"message": "body is not JSON"}})
            return
        self.server.owner._handle(self, body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # a short listen backlog drops SYNs and adds 1 s stalls
    owner: ScriptedServer


class ScriptedServer:
    """POST /v1/chat/completions answered by `script(messages)` (text, or (text,
    finish_reason)); GET /v1/models. `latency_s` (a number or a function of the messages)
    delays each answer. Use as a context manager: `with ScriptedServer(f) as server:` then
    `server.base_url` ("http://127.0.0.1:PORT/v1"). `requests` lists what arrived,
    `max_in_flight` the most requests handled at once."""

    def __init__(
        self,
        script: Script,
        model: str = "scripted-vlm",
        latency_s: float | Callable[[list[dict[str, Any]]], float] = 0.0,
    ) -> None:
        self.script = script
        self.model = model
        self.latency_s = latency_s
        self.requests: list[ReceivedRequest] = []
        self.faults: list[Fault] = []
        self.script_errors: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle
    def start(self) -> ScriptedServer:
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    # faults and bookkeeping
    def inject(
        self,
        kind: str,
        times: int = 1,
        *,
        status: int = 500,
        sleep_s: float = 5.0,
        match: Callable[[list[dict[str, Any]]], bool] | None = None,
    ) -> None:
        """Queue a fault (see Fault); faults apply in the order they were injected."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; known: {FAULT_KINDS}")
        with self._lock:
            self.faults.append(Fault(kind, times, status, sleep_s, match))

    def chat_requests(self) -> list[ReceivedRequest]:
        return [r for r in self.requests if r.path.rstrip("/") == "/v1/chat/completions"]

    def answered(self) -> list[ReceivedRequest]:
        """Chat requests answered from the script (no fault)."""
        return [r for r in self.chat_requests() if not r.fault]

    def _take_fault(self, messages: list[dict[str, Any]]) -> Fault | None:
        for fault in self.faults:
            if fault.times > 0 and (fault.match is None or fault.match(messages)):
                fault.times -= 1
                return fault
        return None

    def _handle(self, handler: _Handler, body: dict[str, Any]) -> None:
        messages = body.get("messages") or []
        with self._lock:
            fault = self._take_fault(messages)
            label = "" if fault is None else fault.kind
            if fault is not None and fault.kind == "status":
                label = f"status:{fault.status}"
            number = len(self.requests)
            auth = handler.headers.get("Authorization", "")
            self.requests.append(
                ReceivedRequest(
                    number,
                    handler.path,
                    body,
                    auth,
                    label,
                    time.monotonic(),
                    handler.client_address[1],
                )
            )
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self._answer(handler, body, messages, fault, number)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _answer(
        self,
        handler: _Handler,
        body: dict[str, Any],
        messages: list[dict[str, Any]],
        fault: Fault | None,
        number: int,
    ) -> None:
        if fault is not None and fault.kind == "drop":
            handler.close_connection = True  # no status line at all: the client sees EOF
            return
        if fault is not None and fault.kind == "status":
            headers = {"Retry-After": "0"} if fault.status == 429 else {}
            error = {"message": f"injected {fault.status}", "type": "injected", "code": None}
            handler._send_json(fault.status, {"error": error}, headers)
            return
        if fault is not None and fault.kind == "sleep":
            self._stop.wait(fault.sleep_s)
        latency = self.latency_s(messages) if callable(self.latency_s) else self.latency_s
        if latency > 0:
            self._stop.wait(latency)
        try:
            result = self.script(messages)
        except Exception as exc:  # a broken test script: answer 500 and keep the reason
            self.script_errors.append(f"{type(exc).__name__}: {exc}")
            handler._send_json(500, {"error": {"message": f"script failed: {exc}"}})
            return
        text, finish_reason = (result, "stop") if isinstance(result, str) else result
        prompt_tokens = sum(len(message_text(m).split()) for m in messages)
        prompt_tokens += 64 * len(image_urls(messages))
        completion_tokens = len(text.split())
        doc = {
            "id": response_id(body),  # by content, so equal requests compare equal
            "object": "chat.completion",
            "created": 1700000000,  # fixed, so equal answers give equal raw replies
            "model": body.get("model", self.model),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        handler._send_json(200, doc)
