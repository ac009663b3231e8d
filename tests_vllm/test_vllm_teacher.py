"""VLLMTeacher against a real in-process vLLM engine (tiny random Qwen2-VL on CPU)."""

from __future__ import annotations

import asyncio
import dataclasses
import pickle
import sys

import pytest
from drawreason.drawing.images import encode_png
from drawreason.rollout.cache import ReplyCache
from drawreason.rollout.engine import run_rollouts
from drawreason.teachers.base import ChatMessage, SamplingParams, Teacher, TeacherReply
from drawreason.teachers.vllm_backend import VLLMTeacher

from tests_vllm.rollouts import (
    ENV_CONFIG,
    FORCED_PARAMS,
    FREE_PARAMS,
    PROMPTS,
    check_forced,
    check_free,
    check_samples,
    check_structure,
    images,
    item_jobs,
    mixed_jobs,
)


def _run(teacher: VLLMTeacher, jobs, params, cache=None):
    return run_rollouts(jobs, teacher, params, ENV_CONFIG, PROMPTS, cache, 16)


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before[k] for k in before if k != "most_in_engine"}


def test_is_a_teacher(vllm_teacher: VLLMTeacher) -> None:
    assert isinstance(vllm_teacher, Teacher) and vllm_teacher.name == "vllm"


def test_free_rollouts_end_at_turn_one_and_run_together(vllm_teacher: VLLMTeacher) -> None:
    jobs = mixed_jobs(forced=False)
    before = vllm_teacher.usage()
    records = _run(vllm_teacher, jobs, FREE_PARAMS)
    used = _delta(before, vllm_teacher.usage())
    check_structure(jobs, records)
    check_free(records)
    check_samples(jobs, records)
    turns = sum(len(r.turns) for r in records)
    assert used["requests"] == turns and used["failures"] == 0
    assert used["prompt_tokens"] == sum(r.usage["prompt_tokens"] for r in records) > 0
    assert used["completion_tokens"] == sum(r.usage["completion_tokens"] for r in records) > 0
    # 8 trajectories at once: the engine held several requests at a time
    assert vllm_teacher.usage()["most_in_engine"] > 1


def test_forced_multi_turn_rollouts_with_images_fed_back(vllm_teacher: VLLMTeacher) -> None:
    jobs = mixed_jobs(forced=True)
    before = vllm_teacher.usage()
    records = _run(vllm_teacher, jobs, FORCED_PARAMS)
    used = _delta(before, vllm_teacher.usage())
    check_structure(jobs, records)
    check_forced(jobs, records)
    check_samples(jobs, records)
    assert used["requests"] == sum(len(r.turns) for r in records) == 3 * len(jobs)
    # prefix caching: later turns find the earlier ones (system prompt, images) cached
    assert used["cached_prompt_tokens"] > 0
    # K samples of one question get different seeds, hence (almost surely) different thinking
    single = [r.turns[0].think for r in records[:3]]
    assert len(set(single)) > 1


def test_cached_rerun_sends_nothing_and_gives_equal_records(
    vllm_teacher: VLLMTeacher, tmp_path
) -> None:
    jobs = item_jobs("cached-forced", 2, 2, forced=True, seed=4) + item_jobs(
        "cached-free", 1, 2, seed=5
    )
    cache = ReplyCache(tmp_path / "cache")
    before = vllm_teacher.usage()
    first = _run(vllm_teacher, jobs, FORCED_PARAMS, cache)
    middle = vllm_teacher.usage()
    second = _run(vllm_teacher, jobs, FORCED_PARAMS, cache)
    after = vllm_teacher.usage()
    turns = sum(len(r.turns) for r in first)
    assert _delta(before, middle)["requests"] == turns > len(jobs)
    assert _delta(middle, after)["requests"] == 0
    assert second == first
    assert [r.usage["cache_hits"] for r in second] == [len(r.turns) for r in first]
    assert all(r.usage["teacher_requests"] == 0 for r in second)


def test_a_rejected_request_fails_alone_as_teacher_error(vllm_teacher: VLLMTeacher) -> None:
    good = item_jobs("fits", 1, 3, seed=6)
    (too_long,) = item_jobs("too-long", 1, 1, seed=6)
    too_long = dataclasses.replace(too_long, system=too_long.system + " word" * 5000)
    before = vllm_teacher.usage()
    records = _run(vllm_teacher, [*good, too_long], FREE_PARAMS)
    used = _delta(before, vllm_teacher.usage())
    check_structure(good, records[:3])
    failed = records[3]
    assert failed.termination == "teacher_error" and failed.turns == ()
    assert failed.error.startswith("vllm engine failed:")
    assert failed.usage["teacher_errors"] == 1
    assert used["failures"] == 1 and used["requests"] == 4


def test_images_reach_the_engine(vllm_teacher: VLLMTeacher) -> None:
    one, two = (encode_png(im) for im in images(2, (64, 48), seed=8))
    params = SamplingParams(temperature=0.0, max_tokens=4)

    async def both() -> list[TeacherReply]:
        return await asyncio.gather(
            vllm_teacher.complete([ChatMessage("user", "<image> look", (one,))], params),
            vllm_teacher.complete([ChatMessage("user", "<image><image> look", (one, two))], params),
        )

    single, double = asyncio.run(both())
    # the second image adds its pad tokens plus vision start/end markers
    assert double.prompt_tokens - single.prompt_tokens > 2
    for reply in (single, double):
        assert reply.finish_reason in {"stop", "length"} and reply.completion_tokens <= 4
        assert reply.raw["model"] == vllm_teacher.model
        assert reply.raw["prompt_tokens"] == reply.prompt_tokens
        assert reply.raw["completion_tokens"] == reply.completion_tokens
    assert single.raw["id"] != double.raw["id"]


def test_one_engine_serves_successive_event_loops(vllm_teacher: VLLMTeacher) -> None:
    message = [ChatMessage("user", "hello")]
    params = SamplingParams(temperature=0.0, max_tokens=3)
    before = vllm_teacher.usage()["requests"]
    replies = [asyncio.run(vllm_teacher.complete(message, params)) for _ in range(2)]
    asyncio.run(vllm_teacher.close())  # per-loop close keeps the engine
    replies.append(asyncio.run(vllm_teacher.complete(message, params)))
    assert vllm_teacher.loaded and vllm_teacher.usage()["requests"] - before == 3
    assert len({r.text for r in replies}) == 1  # greedy: the same text every time


def test_pickling_leaves_the_engine_behind(vllm_teacher: VLLMTeacher) -> None:
    copy = pickle.loads(pickle.dumps(vllm_teacher))
    assert not copy.loaded and vllm_teacher.loaded
    assert copy.engine_args() == vllm_teacher.engine_args()
    assert copy.structured_outputs is vllm_teacher.structured_outputs
    # the counters travel; the engine's own figure (most requests it held) stays behind
    own = {k: v for k, v in vllm_teacher.usage().items() if k != "most_in_engine"}
    assert {k: v for k, v in copy.usage().items() if k != "most_in_engine"} == own
    assert copy.usage()["most_in_engine"] == 0
    copy.shutdown()  # never loaded: nothing to do, the original keeps its engine
    assert vllm_teacher.loaded


def test_missing_vllm_names_the_setup_script(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` fail
    with pytest.raises(ModuleNotFoundError, match="scripts/setup_vllm.sh"):
        VLLMTeacher("unused").load()
