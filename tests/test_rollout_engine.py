"""The rollout engine end to end against a real scripted OpenAI-compatible server."""

import asyncio
import io
import re
import threading
import time

import numpy as np
import pytest
from drawreason.drawing.environment import EnvConfig
from drawreason.drawing.format import format_answer_turn, format_tool_turn
from drawreason.drawing.prompts import Prompts
from drawreason.rollout.assemble import build_teacher_sample
from drawreason.rollout.cache import ReplyCache
from drawreason.rollout.conversation import RolloutJob
from drawreason.rollout.engine import rollout_many, rollout_one, run_rollouts
from drawreason.schemas.records import TERMINATIONS, BoxOp, LineOp, Provenance, QAItem
from drawreason.teachers.base import SamplingParams
from drawreason.teachers.openai_backend import OpenAITeacher
from PIL import Image

from tests.scripted_server import (
    ScriptedServer,
    assistant_turns,
    decode_data_url,
    first_user_text,
    image_urls,
)

PROMPTS = Prompts()
PARAMS = SamplingParams(temperature=0.0, max_tokens=256)
PROVENANCE = Provenance("teacher:openai:scripted", "cfg", 0, "test")
SIZE = (64, 48)
ANSWER = format_answer_turn("I checked the drawing.", "B")


def _images(n: int, size=SIZE) -> list[Image.Image]:
    rng = np.random.default_rng(n)
    return [
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8), "RGB")
        for _ in range(n)
    ]


def _box(index, label="a", box=(5, 5, 20, 20)):
    return format_tool_turn("box it", [BoxOp(index, box, label)])


def _line(index, label="p", start=(2, 2), end=(40, 30)):
    return format_tool_turn("trace it", [LineOp(index, start, end, label)])


def _by_question(table: dict[str, list]):
    """A server script: the reply list is chosen by the `[Qname]` tag in the question, the
    reply by the number of assistant turns so far."""

    def script(messages):
        tag = re.search(r"\[(Q[\w-]+)\]", first_user_text(messages)).group(1)
        return table[tag][assistant_turns(messages)]

    return script


def _job(tag: str, n_images: int = 1, sample: int = 0, env_config=None) -> RolloutJob:
    images = _images(n_images)
    user = PROMPTS.question(
        f"[{tag}] Which is left?", ["cup", "plate"], "multiple choice", [im.size for im in images]
    )
    system = PROMPTS.system(*images[0].size, 10)
    return RolloutJob(f"{tag}#{sample}", tuple(images), system, user, sample, env_config)


def _item(job: RolloutJob, data_type="vqa") -> QAItem:
    refs = tuple(f"img{i}.png" for i in range(len(job.images)))
    return QAItem(
        job.key, refs, "Which is left?", "multiple choice", "B", ("cup", "plate"), data_type
    )


def _run(server, jobs, *, lockstep=False, cache=None, max_concurrent=8, **teacher_kw):
    teacher = OpenAITeacher(server.base_url, "scripted", backoff_s=0.01, **teacher_kw)
    records = run_rollouts(
        jobs, teacher, PARAMS, EnvConfig(), PROMPTS, cache, max_concurrent, lockstep=lockstep
    )
    return records, teacher


def _one(table, tag, n_images=1, **teacher_kw):
    with ScriptedServer(_by_question(table)) as server:
        (record,), teacher = _run(server, [_job(tag, n_images)], **teacher_kw)
    return record, server, teacher


# --- complete trajectories ---------------------------------------------------------------------


def test_single_image_object_mapper_then_path_tracer():
    table = {"Q1": [_box(1), _line(2), ANSWER]}
    record, server, _ = _one(table, "Q1")
    assert record.termination == "answered" and len(record.turns) == 3
    assert record.parents == (0, 1, 2) and len(record.pngs) == 3
    assert [t.action for t in record.turns] == ["Object Mapper", "Path Tracer", "Answer"]
    assert len(server.requests) == 3
    # each request carries exactly the images produced so far: 1, then +1, then +1
    assert [len(image_urls(r.body["messages"])) for r in server.requests] == [1, 2, 3]
    bundle = build_teacher_sample(record, _item(_job("Q1")), "teacher_vqa", PROVENANCE)
    trajectory = bundle.trajectory
    assert trajectory.termination == "answered"
    assert trajectory.scores["accuracy"] == 1.0 and trajectory.scores["format"] == 1.0
    assert [r.parent for r in trajectory.rendered] == [1, 2]
    assert len(trajectory.image_keys) == 3 and len(bundle.images) == 3
    assert dict(bundle.usage)["teacher_requests"] == 3
    logs = trajectory.meta["turn_logs"]
    assert [len(log["request"]["image_sha256"]) for log in logs] == [1, 2, 3]
    replies = [log["raw_reply"]["choices"][0]["message"]["content"] for log in logs]
    assert replies == [turn.raw for turn in trajectory.turns]
    assert trajectory.meta["teacher_tokens"]["prompt"] == sum(x["prompt_tokens"] for x in logs)


def test_new_images_arrive_with_their_pixels():
    table = {"Q2": [_box(1), ANSWER]}
    record, server, _ = _one(table, "Q2")
    first, second = (r.body["messages"] for r in server.requests)
    (input_url,) = image_urls(first)
    sent = Image.open(io.BytesIO(decode_data_url(input_url))).convert("RGB")
    assert np.array_equal(np.asarray(sent), np.asarray(_images(1)[0]))
    rendered_url = image_urls(second)[-1]
    rendered = Image.open(io.BytesIO(decode_data_url(rendered_url))).convert("RGB")
    assert np.array_equal(np.asarray(rendered), np.asarray(record.images[1]))
    assert not np.array_equal(np.asarray(rendered), np.asarray(sent))  # the box is drawn
    env_turn = second[-1]
    assert env_turn["role"] == "user"
    assert "The index of the given image is 2 (width: 64, height: 48)" in str(env_turn)


def test_multi_view_three_images():
    ops = [BoxOp(i, (1, 1, 10 + i, 10), f"obj{i}") for i in (1, 2, 3)]
    table = {"QMV": [format_tool_turn("all views", ops), _line(5), ANSWER]}
    record, server, _ = _one(table, "QMV", n_images=3)
    assert record.termination == "answered"
    assert record.parents == (0, 0, 0, 1, 2, 3, 5)
    assert record.turns[0].new_images == (4, 5, 6)
    assert [len(image_urls(r.body["messages"])) for r in server.requests] == [3, 6, 7]
    item = _item(_job("QMV", 3), data_type="spatial")
    trajectory = build_teacher_sample(record, item, "teacher_mv", PROVENANCE).trajectory
    assert trajectory.input_sizes == (SIZE,) * 3 and trajectory.scores["format"] == 1.0


def test_video_eight_frames_tracking_is_not_reflection():
    track = [BoxOp(f, (5 + f, 5, 20 + f, 20), "person") for f in range(1, 9)]
    table = {"QV": [format_tool_turn("track the person", track), ANSWER]}
    record, server, _ = _one(table, "QV", n_images=8)
    assert record.termination == "answered" and len(record.pngs) == 16
    assert len(image_urls(server.requests[0].body["messages"])) == 8
    item = _item(_job("QV", 8), data_type="video")
    trajectory = build_teacher_sample(record, item, "teacher_video", PROVENANCE).trajectory
    assert trajectory.scores["reflection"] == 0.0 and len(trajectory.rendered) == 8


def test_redraw_under_the_same_label_is_a_reflection():
    table = {"QR": [_box(1, "cup", (5, 5, 20, 20)), _box(2, "cup", (6, 6, 30, 30)), ANSWER]}
    record, _, _ = _one(table, "QR")
    assert record.termination == "answered"
    trajectory = build_teacher_sample(record, _item(_job("QR")), "t", PROVENANCE).trajectory
    assert trajectory.scores["reflection_box_moved"] == 1.0


# --- every way a teacher trajectory goes wrong ---------------------------------------------------

TOOL = "<think> x </think> Action: Object Mapper\n```json\n"
OP = '{"index": %d, "bbox_2d": [1, 2, 3, 4], "label": "a"}'
BAD = {
    "malformed_json": (TOOL + "[" + OP[:-1] % 1 + "\n```", "bad_operation"),
    "missing_keys": (TOOL + '[{"index": 1, "label": "a"}]\n```', "bad_operation"),
    "index_zero": (TOOL + "[" + OP % 0 + "]\n```", "bad_operation"),
    "index_out_of_range": (_box(7), "bad_operation"),
    "out_of_bounds": (_box(1, box=(5, 5, 300, 20)), "bad_operation"),
    "no_answer": ("I believe it is the cup, B.", "no_action"),
    "duplicate": (_box(1), "duplicate_operation"),
    "truncated": ((_box(2)[:30], "length"), "turn_truncated"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_second_turn_ends_with_its_reason(case):
    reply, reason = BAD[case]
    table = {"QB": [_box(1), reply, ANSWER]}
    record, server, _ = _one(table, "QB")
    assert record.termination == reason and reason in TERMINATIONS
    assert len(record.turns) == 2 and len(server.requests) == 2
    assert record.turns[-1].error == reason and record.turns[-1].error_detail
    trajectory = build_teacher_sample(record, _item(_job("QB")), "t", PROVENANCE).trajectory
    assert trajectory.termination == reason and trajectory.scores["format"] == 0.0


def test_budget_runs_out_with_answer_now_turn():
    table = {"QL": [_box(1, f"l{i}") for i in range(20)]}
    with ScriptedServer(_by_question(table)) as server:
        job = _job("QL", env_config=EnvConfig(max_calls=3))
        (record,), _ = _run(server, [job])
    assert record.termination == "budget_exhausted" and len(record.turns) == 3
    last_env = server.requests[-1].body["messages"][-1]
    assert "no longer available" in str(last_env)


@pytest.mark.parametrize(
    ("kind", "status"), [("status", 500), ("status", 429), ("sleep", 0), ("drop", 0)]
)
def test_transient_faults_mid_trajectory_are_retried(kind, status):
    table = {"QF": [_box(1), _line(2), ANSWER]}
    with ScriptedServer(_by_question(table)) as server:
        server.inject(kind, times=2, status=status, sleep_s=2.0,
                      match=lambda m: assistant_turns(m) == 1)  # fmt: skip
        (record,), teacher = _run(server, [_job("QF")], timeout_s=0.5)
    assert record.termination == "answered" and len(record.turns) == 3
    assert len(server.requests) == 5 and teacher.usage()["retries"] == 2


def test_client_error_ends_as_teacher_error_without_retry():
    table = {"QE": [_box(1), _line(2), ANSWER]}
    with ScriptedServer(_by_question(table)) as server:
        server.inject("status", status=400, match=lambda m: assistant_turns(m) == 1)
        (record,), teacher = _run(server, [_job("QE")])
    assert record.termination == "teacher_error" and "HTTP 400" in record.error
    assert len(record.turns) == 1 and len(server.requests) == 2
    assert record.usage["teacher_errors"] == 1 and teacher.usage()["retries"] == 0
    bundle = build_teacher_sample(record, _item(_job("QE")), "t", PROVENANCE)
    assert "HTTP 400" in bundle.trajectory.meta["teacher_error"]


def test_retries_exhausted_end_as_teacher_error():
    table = {"QX": [_box(1), ANSWER]}
    with ScriptedServer(_by_question(table)) as server:
        server.inject("status", times=99, status=503)
        (record,), _ = _run(server, [_job("QX")], max_retries=2)
    assert record.termination == "teacher_error" and record.turns == ()
    assert len(server.requests) == 3


def test_rollout_one_async_api():
    table = {"Q1": [_box(1), ANSWER]}
    job = _job("Q1")
    with ScriptedServer(_by_question(table)) as server:
        teacher = OpenAITeacher(server.base_url, "scripted")

        async def main():
            try:
                return await rollout_one(job.images, job.system, job.user, teacher, PARAMS,
                                         EnvConfig(), PROMPTS, key_prefix="k")  # fmt: skip
            finally:
                await teacher.close()

        record = asyncio.run(main())
    assert record.termination == "answered" and record.key == "k"
    log = record.turn_logs[0]
    assert log.request["params"]["max_tokens"] == 256 and len(log.request["image_sha256"]) == 1
    assert log.raw_reply["choices"][0]["finish_reason"] == "stop"


# --- many trajectories -------------------------------------------------------------------------


def _varied_table(n: int) -> dict[str, list]:
    return {f"Q{i}": [_box(1, f"t{t}", (t, t, 20 + t, 20)) for t in range(i % 6)] + [ANSWER]
            for i in range(n)}  # fmt: skip


def test_many_trajectories_of_different_lengths_respect_the_concurrency_bound():
    table = _varied_table(30)
    jobs = [_job(tag) for tag in table]
    with ScriptedServer(_by_question(table), latency_s=0.02) as server:
        records, _ = _run(server, jobs, max_concurrent=5)
    assert [r.key for r in records] == [j.key for j in jobs]
    assert all(r.termination == "answered" for r in records)
    assert [len(r.turns) for r in records] == [len(table[j.key[:-2]]) for j in jobs]
    assert len(server.requests) == sum(len(v) for v in table.values())
    assert 2 <= server.max_in_flight <= 5


def test_lockstep_baseline_gives_the_same_records():
    table = _varied_table(12)
    jobs = [_job(tag) for tag in table]
    with ScriptedServer(_by_question(table)) as server:
        free, _ = _run(server, jobs)
        lock, _ = _run(server, jobs, lockstep=True)
    assert free == lock


def test_trajectories_advance_independently_of_a_slow_one():
    """The slow reply is held until the fast trajectory has sent its last request (or a
    deadline passes): independently advancing trajectories release it, lock-step ones cannot
    get past the first round while it is held. Ordering, not timing, decides the test."""
    fast_turns = 4
    fast_script = [_box(1, f"f{t}", (t, t, 9 + t, 9)) for t in range(fast_turns)] + [ANSWER]
    table = {"QSLOW": [ANSWER], "QFAST": fast_script}
    jobs = [_job("QSLOW"), _job("QFAST")]
    for mode, deadline_s in (("independent", 60.0), ("lockstep", 1.0)):
        fast_done = threading.Event()
        released: list[tuple[bool, float]] = []  # (fast done by then, when: server's clock)

        def latency(messages, fast_done=fast_done, released=released, deadline_s=deadline_s):
            if "QSLOW" in first_user_text(messages):
                released.append((fast_done.wait(deadline_s), time.monotonic()))
                return 0.0
            if sum(m["role"] == "assistant" for m in messages) == fast_turns:
                fast_done.set()  # the fast trajectory's last request has arrived
            return 0.0

        with ScriptedServer(_by_question(table), latency_s=latency) as server:
            records, _ = _run(server, jobs, lockstep=mode == "lockstep")
        assert [r.termination for r in records] == ["answered", "answered"]
        fast = [r for r in server.requests if "QFAST" in first_user_text(r.body["messages"])]
        assert len(fast) == fast_turns + 1
        if mode == "independent":  # every fast turn went out while the slow reply was held
            assert released[0][0]
        else:  # the slow reply was released by the deadline, the fast one stuck in round one
            assert not released[0][0]
            assert sum(r.at <= released[0][1] for r in fast) == 1


# --- crash and resume --------------------------------------------------------------------------


def _nonce_script(table):
    """Like _by_question, but every reply carries the server's request number, so only the
    cache can make two runs agree."""
    counter = iter(range(10**6))
    base = _by_question(table)

    def script(messages):
        text = base(messages)
        return text.replace("<think> ", f"<think> [r{next(counter)}] ", 1)

    return script


def test_crash_and_resume_resends_only_missing_requests(tmp_path):
    table = _varied_table(16)
    jobs = [_job(tag) for tag in table]
    needed = sum(len(v) for v in table.values())
    cache = ReplyCache(tmp_path / "cache")

    with ScriptedServer(_nonce_script(table), latency_s=0.01) as server:
        teacher = OpenAITeacher(server.base_url, "scripted")

        async def crash():
            task = asyncio.create_task(
                rollout_many(jobs, teacher, PARAMS, EnvConfig(), PROMPTS, cache, 4)
            )
            while len(server.answered()) < needed // 2:
                await asyncio.sleep(0.005)
            task.cancel()  # the worker dies mid-run, requests in flight are lost
            with pytest.raises(asyncio.CancelledError):
                await task
            await teacher.close()

        asyncio.run(crash())
        stored = len(cache.store)
        assert 0 < stored < needed
        first_run = len(server.requests)

        resumed, _ = _run(server, jobs, cache=ReplyCache(tmp_path / "cache"), max_concurrent=4)
        resent = len(server.requests) - first_run
        again, _ = _run(server, jobs, cache=ReplyCache(tmp_path / "cache"))
        assert len(server.requests) - first_run - resent == 0  # a third run sends nothing

    assert resent == needed - stored
    assert all(r.termination == "answered" for r in resumed)
    assert resumed == again
    assert len(cache.store) == needed
    hits = sum(r.usage["cache_hits"] for r in resumed)
    assert hits == stored


def test_cache_distinguishes_samples(tmp_path):
    table = {"QS": [_box(1), ANSWER]}
    jobs = [_job("QS", sample=s) for s in range(3)]
    with ScriptedServer(_by_question(table)) as server:
        _run(server, jobs, cache=ReplyCache(tmp_path))
    assert len(server.requests) == 6
