"""The teacher seam and the OpenAI back end against a real scripted server on loopback."""

import asyncio
import io
import logging

import numpy as np
import pytest
from drawreason.drawing.images import encode_png
from drawreason.teachers.base import (
    ChatMessage,
    SamplingParams,
    Teacher,
    TeacherError,
    to_openai_messages,
)
from drawreason.teachers.openai_backend import OpenAITeacher
from drawreason.teachers.scripted import ScriptedTeacher
from PIL import Image

from tests.scripted_server import (
    ScriptedServer,
    assistant_turns,
    decode_data_url,
    image_urls,
    message_text,
)

PARAMS = SamplingParams(temperature=0.0, max_tokens=64)


def _png(color=(10, 200, 30), size=(8, 6)) -> bytes:
    return encode_png(Image.new("RGB", size, color))


def _echo(messages):
    return f"turn {assistant_turns(messages)}: {message_text(messages[-1])[:20]}"


def _complete(teacher, messages, params=PARAMS):
    async def main():
        try:
            return await teacher.complete(messages, params)
        finally:
            await teacher.close()

    return asyncio.run(main())


USER = [ChatMessage("user", "hello")]


def test_chat_message_checks_placeholders():
    ChatMessage("user", "a <image> b <image>", (_png(), _png()))
    ChatMessage("assistant", "I write <image> freely")
    with pytest.raises(ValueError, match="placeholder"):
        ChatMessage("user", "one <image>", ())
    with pytest.raises(ValueError, match="role"):
        ChatMessage("robot", "hi")


def test_to_openai_messages_splits_text_on_placeholders():
    a, b = _png((1, 2, 3)), _png((4, 5, 6))
    out = to_openai_messages(
        [ChatMessage("system", "sys"), ChatMessage("user", "<image>\nfirst\n<image> end", (a, b))]
    )
    assert out[0] == {"role": "system", "content": "sys"}
    parts = out[1]["content"]
    assert [p["type"] for p in parts] == ["image_url", "text", "image_url", "text"]
    assert parts[1]["text"] == "\nfirst\n" and parts[3]["text"] == " end"
    assert decode_data_url(parts[0]["image_url"]["url"]) == a
    assert decode_data_url(parts[2]["image_url"]["url"]) == b


def test_teachers_satisfy_the_protocol():
    assert isinstance(OpenAITeacher("http://127.0.0.1:1/v1", "m"), Teacher)
    assert isinstance(ScriptedTeacher(lambda m: "x"), Teacher)


def test_reply_usage_and_raw_from_server():
    with ScriptedServer(lambda m: ("a b c", "length")) as server:
        teacher = OpenAITeacher(server.base_url, "tiny")
        reply = _complete(teacher, USER)
    assert reply.text == "a b c" and reply.finish_reason == "length"
    assert reply.completion_tokens == 3 and reply.prompt_tokens == 1
    assert reply.raw["choices"][0]["message"]["content"] == "a b c"
    body = server.requests[0].body
    assert body["model"] == "tiny" and body["max_tokens"] == 64 and body["temperature"] == 0.0
    assert teacher.usage() == {
        "requests": 1,
        "retries": 0,
        "failures": 0,
        "prompt_tokens": 1,
        "completion_tokens": 3,
    }


def test_images_arrive_as_png_data_urls_with_the_same_pixels():
    image = Image.fromarray(np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3), "RGB")
    message = ChatMessage("user", "look <image>", (encode_png(image),))
    with ScriptedServer(_echo) as server:
        _complete(OpenAITeacher(server.base_url, "m"), [message])
    (url,) = image_urls(server.requests[0].body["messages"])
    assert url.startswith("data:image/png;base64,")
    received = Image.open(io.BytesIO(decode_data_url(url)))
    assert received.format == "PNG"
    assert np.array_equal(np.asarray(received.convert("RGB")), np.asarray(image))


def test_models_endpoint():
    with ScriptedServer(_echo, model="served") as server:
        teacher = OpenAITeacher(server.base_url, "served")

        async def main():
            client, _ = teacher._bind()
            page = await client.models.list()
            await teacher.close()
            return [m.id for m in page.data]

        assert asyncio.run(main()) == ["served"]


@pytest.mark.parametrize("status", [500, 502, 429])
def test_transient_status_is_retried_then_succeeds(status):
    with ScriptedServer(_echo) as server:
        server.inject("status", times=2, status=status)
        teacher = OpenAITeacher(server.base_url, "m", backoff_s=0.01)
        reply = _complete(teacher, USER)
    assert reply.text.startswith("turn 0")
    assert [r.fault for r in server.requests] == [f"status:{status}"] * 2 + [""]
    assert teacher.usage()["retries"] == 2 and teacher.usage()["requests"] == 3


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_client_errors_fail_at_once(status):
    with ScriptedServer(_echo) as server:
        server.inject("status", times=1, status=status)
        teacher = OpenAITeacher(server.base_url, "m", backoff_s=0.01)
        with pytest.raises(TeacherError, match=f"HTTP {status}.*no retry"):
            _complete(teacher, USER)
    assert len(server.requests) == 1
    assert teacher.usage()["failures"] == 1 and teacher.usage()["retries"] == 0


def test_timeout_is_retried():
    with ScriptedServer(_echo) as server:
        server.inject("sleep", times=1, sleep_s=3.0)
        teacher = OpenAITeacher(server.base_url, "m", timeout_s=0.5, backoff_s=0.01)
        reply = _complete(teacher, USER)
    assert reply.text.startswith("turn 0")
    assert len(server.requests) == 2 and teacher.usage()["retries"] == 1


def test_dropped_connection_is_retried():
    with ScriptedServer(_echo) as server:
        server.inject("drop", times=2)
        teacher = OpenAITeacher(server.base_url, "m", backoff_s=0.01)
        reply = _complete(teacher, USER)
    assert reply.text.startswith("turn 0")
    assert [r.fault for r in server.requests] == ["drop", "drop", ""]


def test_retries_run_out():
    with ScriptedServer(_echo) as server:
        server.inject("status", times=10, status=503)
        teacher = OpenAITeacher(server.base_url, "m", max_retries=2, backoff_s=0.01)
        with pytest.raises(TeacherError, match="HTTP 503.*after 3 attempt"):
            _complete(teacher, USER)
    assert len(server.requests) == 3


def test_unreachable_server_fails_at_once_and_warns_once(caplog):
    teacher = OpenAITeacher("http://127.0.0.1:9/v1", "m", max_retries=5, backoff_s=5.0)
    caplog.set_level(logging.WARNING)
    for _ in range(3):  # no retries: a backoff of 5 s would make this take minutes
        with pytest.raises(TeacherError, match=r"^no server at http://127.0.0.1:9/v1: is it"):
            _complete(teacher, USER)
    warnings = [r.getMessage() for r in caplog.records if "no server" in r.getMessage()]
    assert len(warnings) == 1
    assert teacher.usage()["retries"] == 0 and teacher.usage()["failures"] == 3


def test_api_key_is_sent_but_never_logged_or_kept(monkeypatch, caplog):
    secret = "sk-test-very-secret-0123456789"
    monkeypatch.setenv("MY_TEACHER_KEY", secret)
    caplog.set_level(logging.DEBUG)
    with ScriptedServer(_echo) as server:
        server.inject("status", times=1, status=500)
        server.inject("status", times=1, status=403)
        teacher = OpenAITeacher(server.base_url, "m", api_key_env="MY_TEACHER_KEY", backoff_s=0)
        with pytest.raises(TeacherError) as failure:
            _complete(teacher, USER)
        reply = _complete(teacher, USER)
    assert server.requests[0].authorization == f"Bearer {secret}"
    assert secret not in str(failure.value) and secret not in repr(failure.value.__cause__)
    assert secret not in repr(reply) and secret not in str(teacher.usage())
    assert secret not in repr(teacher) and secret not in caplog.text


def test_missing_key_sends_empty(monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with ScriptedServer(_echo) as server:
        _complete(OpenAITeacher(server.base_url, "m", api_key_env="NO_SUCH_KEY_VAR"), USER)
    assert server.requests[0].authorization == "Bearer EMPTY"


def test_in_flight_requests_are_bounded():
    with ScriptedServer(_echo, latency_s=0.05) as server:
        teacher = OpenAITeacher(server.base_url, "m", max_in_flight=3)

        async def main():
            calls = [teacher.complete([ChatMessage("user", f"q{i}")], PARAMS) for i in range(12)]
            replies = await asyncio.gather(*calls)
            await teacher.close()
            return replies

        replies = asyncio.run(main())
    assert len(replies) == 12 and server.max_in_flight == 3


def test_every_request_in_flight_keeps_its_connection_alive():
    """Above openai's default keep-alive pool (100 connections), rounds of `max_in_flight`
    requests reuse the connections of the first round instead of reopening some each time."""
    rounds, in_flight = 3, 120
    with ScriptedServer(_echo, latency_s=0.2) as server:
        teacher = OpenAITeacher(server.base_url, "m", max_in_flight=in_flight)

        async def main():
            for _ in range(rounds):
                calls = [
                    teacher.complete([ChatMessage("user", f"q{i}")], PARAMS)
                    for i in range(in_flight)
                ]
                await asyncio.gather(*calls)
            await teacher.close()

        asyncio.run(main())
    assert len(server.chat_requests()) == rounds * in_flight
    assert len({r.port for r in server.chat_requests()}) == in_flight


def test_seed_is_sent_when_set():
    with ScriptedServer(_echo) as server:
        _complete(OpenAITeacher(server.base_url, "m"), USER, SamplingParams(seed=7))
        _complete(OpenAITeacher(server.base_url, "m"), USER, SamplingParams())
    assert server.requests[0].body["seed"] == 7 and "seed" not in server.requests[1].body


def test_teacher_survives_a_new_event_loop():
    with ScriptedServer(_echo) as server:
        teacher = OpenAITeacher(server.base_url, "m")
        first = asyncio.run(teacher.complete(USER, PARAMS))  # no close: its loop is gone after
        second = _complete(teacher, USER)
    assert first.text == second.text and teacher.usage()["requests"] == 2


def test_scripted_teacher_in_process():
    teacher = ScriptedTeacher(lambda m: ("cut off", "length") if len(m) > 1 else "hi")
    assert _complete(teacher, USER).text == "hi"
    reply = _complete(teacher, USER + [ChatMessage("assistant", "x"), ChatMessage("user", "y")])
    assert reply.finish_reason == "length" and teacher.usage()["requests"] == 2


def _regex_for_hello(messages):
    return {"regex": "[a-z]+"} if messages[-1].text == "hello" else None


def test_structured_outputs_are_sent_as_vllm_s_request_field():
    with ScriptedServer(_echo) as server:
        teacher = OpenAITeacher(server.base_url, "m", structured_outputs=_regex_for_hello)
        _complete(teacher, USER)
        _complete(teacher, [ChatMessage("user", "free")])
    assert server.requests[0].body["structured_outputs"] == {"regex": "[a-z]+"}
    assert "structured_outputs" not in server.requests[1].body


def test_image_ids_match_the_images_and_stay_out_of_equality():
    png = _png()
    with pytest.raises(ValueError, match="1 image id"):
        ChatMessage("user", "<image><image>", (png, png), ("a",))
    named = ChatMessage("user", "<image>", (png,), ("sha",))
    assert named == ChatMessage("user", "<image>", (png,))
