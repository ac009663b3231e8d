"""RolloutService: continuous refill (a finished trajectory's slot goes to the next job at once),
the open-trajectory bound, the same records as the engine's one-shot driver."""

import threading
import time

import numpy as np
import pytest
from drawreason.drawing.environment import EnvConfig
from drawreason.drawing.format import format_answer_turn, format_tool_turn
from drawreason.drawing.prompts import Prompts
from drawreason.rollout.cache import ReplyCache
from drawreason.rollout.conversation import RolloutJob
from drawreason.rollout.engine import OPENING, run_rollouts
from drawreason.rollout.service import RolloutService
from drawreason.schemas.records import BoxOp
from drawreason.teachers.base import SamplingParams
from drawreason.teachers.scripted import ScriptedTeacher
from PIL import Image

PROMPTS = Prompts()
PARAMS = SamplingParams(temperature=0.0, max_tokens=256)
ENV = EnvConfig(max_calls=10, max_images=42)
ANSWER = format_answer_turn("I checked the drawing.", "B")


def _draw(turn: int) -> str:
    return format_tool_turn("box it", [BoxOp(1, (2 + turn, 2, 20, 20), f"l{turn}")])


def _script(messages):
    """`[Qlong...]` items draw six times before answering, the others answer at once."""
    turns = sum(m.role == "assistant" for m in messages)
    first_user = next(m.text for m in messages if m.role == "user")
    draws = 6 if "[Qlong" in first_user else 0
    return _draw(turns) if turns < draws else ANSWER


def _job(tag: str) -> RolloutJob:
    rng = np.random.default_rng(len(tag))
    image = Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8), "RGB")
    user = PROMPTS.question(f"[{tag}] Which?", ["a", "b"], "multiple choice", [image.size])
    return RolloutJob(f"{tag}#0", (image,), PROMPTS.system(*image.size, 10), user)


def test_a_finished_trajectory_frees_its_slot_for_the_next_job_at_once():
    teacher = ScriptedTeacher(_script, latency_s=0.05)
    service = RolloutService(teacher, None, max_open=2).acquire()
    jobs = [_job("Qlong"), *(_job(f"Qshort{i}") for i in range(4))]
    ended: dict[str, float] = {}
    lock = threading.Lock()
    try:
        futures = [service.submit(job, PARAMS, ENV, PROMPTS) for job in jobs]
        for job, future in zip(jobs, futures, strict=True):

            def note(_, key=job.key):
                with lock:
                    ended[key] = time.monotonic()

            future.add_done_callback(note)
        records = [f.result(timeout=30) for f in futures]
    finally:
        service.release()
    assert all(r.termination == "answered" for r in records)
    assert teacher.max_in_flight_seen == 2  # never more than max_open trajectories open
    # Fixed batches of two would hold Qshort0's slot until Qlong ends (7 turns); with refill
    # the four one-turn trajectories all finish through the second slot meanwhile.
    assert max(ended[f"Qshort{i}#0"] for i in range(4)) < ended["Qlong#0"]
    assert service.closed


def test_the_service_gives_the_records_of_the_one_shot_driver():
    jobs = [_job("Qlong"), _job("Qshort0"), _job("Qlong2")]
    expected = run_rollouts(jobs, ScriptedTeacher(_script), PARAMS, ENV, PROMPTS, None, 2)
    service = RolloutService(ScriptedTeacher(_script), None, max_open=2).acquire()
    try:
        futures = [service.submit(job, PARAMS, ENV, PROMPTS) for job in jobs]
        got = [future.result(timeout=30) for future in futures]
    finally:
        service.release()

    def facts(r):
        return r.key, r.turns, r.pngs, r.parents, r.termination

    assert [facts(r) for r in got] == [facts(r) for r in expected]


def test_a_bug_in_a_trajectory_is_raised_not_swallowed():
    def broken(messages):
        raise KeyError("bug")

    service = RolloutService(ScriptedTeacher(broken), None, max_open=1).acquire()
    try:
        with pytest.raises(KeyError):
            service.submit(_job("Qshort0"), PARAMS, ENV, PROMPTS).result(timeout=30)
    finally:
        service.release()
    with pytest.raises(RuntimeError, match="closed"):
        service.submit(_job("Qshort0"), PARAMS, ENV, PROMPTS)


class _CountingStore:
    """A BlobStore in memory that counts reads, and whose writes can be held until an event."""

    def __init__(self, release: threading.Event | None = None) -> None:
        self.blobs: dict[str, bytes] = {}
        self.reads = 0
        self.release = release
        self.waited_for_release: list[bool] = []
        self.lock = threading.Lock()

    def read(self, name: str) -> bytes | None:
        with self.lock:
            self.reads += 1
            return self.blobs.get(name)

    def write(self, name: str, data: bytes) -> None:
        if self.release is not None:
            self.waited_for_release.append(self.release.wait(timeout=30))
        with self.lock:
            self.blobs[name] = data


def test_a_burst_of_jobs_sends_its_first_request_before_opening_them_all():
    """Submitting every slot at once (the start of a run) opens trajectories a few at a time,
    so the first request leaves after at most OPENING conversations were built and looked up,
    not after all of them."""
    store = _CountingStore()
    reads_at_first_request: list[int] = []

    def script(messages):
        if not reads_at_first_request:
            reads_at_first_request.append(store.reads)
        return ANSWER

    service = RolloutService(ScriptedTeacher(script), ReplyCache(store), max_open=64).acquire()
    try:
        futures = [service.submit(_job(f"Qshort{i}"), PARAMS, ENV, PROMPTS) for i in range(64)]
        records = [f.result(timeout=60) for f in futures]
    finally:
        service.release()
    assert all(r.termination == "answered" for r in records)
    assert store.reads == 64
    assert 1 <= reads_at_first_request[0] <= OPENING < 64


def test_cache_writes_do_not_hold_up_the_next_turn_but_finish_before_the_record():
    """A reply is written to the cache in the background: the trajectory's next request goes
    out while the write still waits (here, for that very request), and the record comes back
    only once every reply of the trajectory is in the cache."""
    second_request = threading.Event()

    def script(messages):
        if sum(m.role == "assistant" for m in messages) == 1:
            second_request.set()
        return _script(messages)

    store = _CountingStore(release=second_request)
    service = RolloutService(ScriptedTeacher(script), ReplyCache(store), max_open=1).acquire()
    try:
        record = service.submit(_job("Qlong"), PARAMS, ENV, PROMPTS).result(timeout=60)
    finally:
        service.release()
    assert record.termination == "answered" and len(record.turns) == 7
    assert store.waited_for_release and all(store.waited_for_release)
    assert len(store.blobs) == 7  # every reply cached by the time the record is returned
