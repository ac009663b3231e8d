"""VLLMTeacher on vLLM's async engine: the same replies as `vllm.LLM.chat`, requests served as
they arrive, images identified once, one engine per process, a clean shutdown."""

from __future__ import annotations

import asyncio
import pickle
import threading
from collections.abc import Iterator, Sequence

import psutil
import pytest
import vllm
from drawreason.drawing.images import encode_png
from drawreason.rollout.engine import run_rollouts
from drawreason.teachers.base import ChatMessage, SamplingParams, TeacherError, to_openai_messages
from drawreason.teachers.vllm_backend import VLLMTeacher, chat_conversation
from vllm.multimodal.hasher import MultiModalHasher
from vllm.sampling_params import StructuredOutputsParams

from tests_vllm.forced import FORCED_TAG, forced_actions, forced_turn
from tests_vllm.rollouts import ENV_CONFIG, FORCED_PARAMS, PROMPTS, images, item_jobs

LONG_TAG = "[long]"
LONG_REGEX = "(ab ){120}"  # at least 120 tokens, and no end of sequence before them


def _long_or_forced(messages: Sequence[ChatMessage]) -> dict[str, str] | None:
    first_user = next(m for m in messages if m.role == "user")
    if LONG_TAG in first_user.text:
        return {"regex": LONG_REGEX}
    return forced_actions(messages)


def _pngs(n: int, seed: int) -> tuple[bytes, ...]:
    return tuple(encode_png(im) for im in images(n, (72, 56), seed))


def _compared_requests() -> list[tuple[list[ChatMessage], SamplingParams]]:
    """Seeded requests for the LLM.chat comparison, each with a system text of its own (so
    neither engine finds it cached from earlier tests): text only, one image, three images
    under structured outputs, and a second turn with a rendered image fed back."""
    one, three, rendered = _pngs(1, 21), _pngs(3, 22), _pngs(1, 23)
    seeded = SamplingParams(temperature=0.8, top_p=0.95, max_tokens=24, seed=1234)
    system = "[compare {}] You look at images and answer briefly."
    forced_user = f"{FORCED_TAG} <image><image><image> Which view shows the cup?"
    first_turn = forced_turn(1, 0).replace("THINKPLACEHOLDER", "look at it")
    return [
        ([ChatMessage("system", system.format(0)), ChatMessage("user", "Say hello.")], seeded),
        (
            [ChatMessage("system", system.format(1)), ChatMessage("user", "<image> What?", one)],
            SamplingParams(temperature=0.0, max_tokens=16, seed=7),
        ),
        (
            [
                ChatMessage("system", system.format(2)),
                ChatMessage("user", forced_user, three),
            ],
            FORCED_PARAMS,
        ),
        (
            [
                ChatMessage("system", system.format(3)),
                ChatMessage("user", f"{FORCED_TAG} <image> Where is the cup?", one),
                ChatMessage("assistant", first_turn),
                ChatMessage("user", "<image> The index of the given image is 2.", rendered),
            ],
            FORCED_PARAMS,
        ),
    ]


def _llm_params(messages: Sequence[ChatMessage], params: SamplingParams) -> vllm.SamplingParams:
    constraint = forced_actions(messages)
    return vllm.SamplingParams(
        temperature=params.temperature,
        top_p=params.top_p,
        max_tokens=params.max_tokens,
        seed=params.seed,
        structured_outputs=StructuredOutputsParams(**constraint) if constraint else None,
    )


def test_the_same_seeded_request_gets_the_same_reply_as_llm_chat(
    vllm_teacher: VLLMTeacher,
) -> None:
    requests = _compared_requests()
    replies = [asyncio.run(vllm_teacher.complete(m, p)) for m, p in requests]
    # today's path: a synchronous vllm.LLM with the same engine arguments, one request per
    # LLM.chat call, messages as the OpenAI-style dicts it took (no image ids)
    llm = vllm.LLM(**vllm_teacher.engine_args(cpu=True))
    try:
        expected = [
            llm.chat([to_openai_messages(m)], [_llm_params(m, p)], use_tqdm=False)[0]
            for m, p in requests
        ]
    finally:
        llm.llm_engine.engine_core.shutdown()
        del llm
    for reply, output in zip(replies, expected, strict=True):
        completion = output.outputs[0]
        assert reply.text == completion.text
        assert reply.completion_tokens == len(completion.token_ids) > 0
        assert reply.prompt_tokens == len(output.prompt_token_ids)
        assert reply.finish_reason == completion.finish_reason
    assert replies[2].finish_reason == "stop" and "Object Mapper" in replies[2].text


@pytest.fixture(scope="module")
def long_teacher(vllm_teacher: VLLMTeacher) -> Iterator[VLLMTeacher]:
    """A second teacher with the session teacher's engine arguments and its own hook."""
    teacher = VLLMTeacher(
        vllm_teacher.model,
        dtype=vllm_teacher.dtype,
        max_model_len=vllm_teacher.max_model_len,
        max_images_per_prompt=vllm_teacher.max_images_per_prompt,
        enforce_eager=vllm_teacher.enforce_eager,
        engine_kwargs=vllm_teacher.engine_kwargs,
        structured_outputs=_long_or_forced,
    )
    teacher.load()
    yield teacher
    teacher.shutdown()


def test_teachers_of_one_process_share_one_engine(
    vllm_teacher: VLLMTeacher, long_teacher: VLLMTeacher
) -> None:
    assert long_teacher.engine is vllm_teacher.engine is not None
    copy = pickle.loads(pickle.dumps(vllm_teacher))
    assert not copy.loaded
    copy.load()  # attaches: no second engine starts
    assert copy.engine is vllm_teacher.engine
    copy.shutdown()  # lets go; the others keep the engine
    assert not copy.loaded and vllm_teacher.loaded
    params = SamplingParams(temperature=0.0, max_tokens=3)
    reply = asyncio.run(vllm_teacher.complete([ChatMessage("user", "still there?")], params))
    assert reply.completion_tokens > 0


def test_a_request_that_arrives_while_another_runs_does_not_wait_for_it(
    long_teacher: VLLMTeacher,
) -> None:
    png = _pngs(1, 31)
    long_messages = [ChatMessage("user", f"{LONG_TAG} <image> Describe it at length.", png)]
    short_messages = [ChatMessage("user", "<image> One word.", png)]
    finished: list[str] = []

    async def timed(name: str, messages: list[ChatMessage], max_tokens: int):
        params = SamplingParams(temperature=0.8, max_tokens=max_tokens, seed=3)
        reply = await long_teacher.complete(messages, params)
        finished.append(name)
        return reply

    async def both():
        long = asyncio.create_task(timed("long", long_messages, 400))
        await asyncio.sleep(0.5)  # the long request is in the engine before the short arrives
        short = asyncio.create_task(timed("short", short_messages, 2))
        return await long, await short

    long, short = asyncio.run(both())
    assert long.completion_tokens >= 120 and short.completion_tokens <= 2
    # the old batching path sent the short request only after the long one's call ended
    assert finished == ["short", "long"]
    assert long_teacher.usage()["most_in_engine"] >= 2


def test_images_are_identified_by_id_not_hashed_again_each_turn(
    vllm_teacher: VLLMTeacher, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[set[str]] = []  # the keyword names of each hash: the modality among them
    original = MultiModalHasher.hash_kwargs

    def counting(cls, algorithm, /, **kwargs):
        calls.append(set(kwargs))
        return original(algorithm, **kwargs)

    monkeypatch.setattr(MultiModalHasher, "hash_kwargs", classmethod(counting))
    jobs = item_jobs("hash-once", 2, 2, forced=True, seed=12)
    records = run_rollouts(jobs, vllm_teacher, FORCED_PARAMS, ENV_CONFIG, PROMPTS, None, 4)
    assert all(r.termination == "answered" and len(r.turns) == 3 for r in records)
    assert calls == []  # every image went in with its sha256 as its id
    # each request names every image of its conversation, by the hash the rollout computed
    last = records[0].turn_logs[-1].request["image_sha256"]
    messages = [ChatMessage("user", "<image>" * len(records[0].pngs), records[0].pngs)]
    uuids = [p["uuid"] for p in chat_conversation(messages)[0]["content"] if "uuid" in p]
    assert uuids == last
    # without ids (the OpenAI-style messages LLM.chat took), vLLM hashes the image itself
    engine = vllm_teacher._engine  # noqa: SLF001 - the path below the teacher, for contrast
    plain = to_openai_messages([ChatMessage("user", "<image> once more", _pngs(1, 13))])
    params = vllm.SamplingParams(max_tokens=2, temperature=0.0)
    future = asyncio.run_coroutine_threadsafe(engine._generate(plain, params), engine.loop)  # noqa: SLF001
    future.result(timeout=300)
    assert any("image" in names for names in calls)


def test_shutdown_fails_open_requests_and_leaves_no_process(
    vllm_teacher: VLLMTeacher,
) -> None:
    # other engine arguments: an engine of its own, not the session's
    teacher = VLLMTeacher(
        vllm_teacher.model,
        dtype=vllm_teacher.dtype,
        max_model_len=1024,
        max_images_per_prompt=1,
        enforce_eager=True,
        engine_kwargs=vllm_teacher.engine_kwargs | {"max_num_batched_tokens": 2048},
        structured_outputs=_long_or_forced,
    )
    me = psutil.Process()
    before = {p.pid for p in me.children(recursive=True)}
    teacher.load()
    assert teacher.engine is not vllm_teacher.engine
    started = [p for p in me.children(recursive=True) if p.pid not in before]
    assert started  # the engine core (and its worker) run in processes of their own
    params = SamplingParams(temperature=0.8, max_tokens=400, seed=5)
    outcome: list[BaseException | object] = []

    def long_request() -> None:
        try:
            outcome.append(asyncio.run(teacher.complete([ChatMessage("user", LONG_TAG)], params)))
        except TeacherError as exc:
            outcome.append(exc)

    caller = threading.Thread(target=long_request)
    caller.start()
    while teacher.usage()["most_in_engine"] < 1 and caller.is_alive():  # the request is open
        caller.join(timeout=0.05)
    teacher.shutdown()
    caller.join(timeout=120)
    assert len(outcome) == 1 and isinstance(outcome[0], TeacherError)
    assert "shut down" in str(outcome[0])
    assert not teacher.loaded and vllm_teacher.loaded
    _, alive = psutil.wait_procs(started, timeout=60)
    assert alive == []
