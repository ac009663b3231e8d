"""OpenAITeacher against vLLM's real OpenAI-compatible server (tiny random Qwen2-VL on CPU)."""

from __future__ import annotations

from drawreason.rollout.cache import ReplyCache
from drawreason.rollout.engine import run_rollouts
from drawreason.teachers.openai_backend import OpenAITeacher

from tests_vllm.rollouts import (
    ENV_CONFIG,
    FREE_PARAMS,
    PROMPTS,
    SERVED_NAME,
    check_free,
    check_samples,
    check_structure,
    mixed_jobs,
)


def test_rollouts_through_the_server_and_cached_rerun(vllm_server: str, tmp_path) -> None:
    jobs = mixed_jobs(forced=False)
    cache = ReplyCache(tmp_path / "cache")
    teacher = OpenAITeacher(vllm_server, SERVED_NAME, max_retries=0)
    first = run_rollouts(jobs, teacher, FREE_PARAMS, ENV_CONFIG, PROMPTS, cache, 16)
    check_structure(jobs, first)
    check_free(first)
    check_samples(jobs, first)
    used = teacher.usage()
    assert used["requests"] == sum(len(r.turns) for r in first)
    assert used["failures"] == 0 and used["retries"] == 0
    assert used["prompt_tokens"] == sum(r.usage["prompt_tokens"] for r in first) > 0
    assert used["completion_tokens"] == sum(r.usage["completion_tokens"] for r in first) > 0
    assert all(log.raw_reply["model"] == SERVED_NAME for r in first for log in r.turn_logs)

    rerun_teacher = OpenAITeacher(vllm_server, SERVED_NAME, max_retries=0)
    second = run_rollouts(jobs, rerun_teacher, FREE_PARAMS, ENV_CONFIG, PROMPTS, cache, 16)
    assert rerun_teacher.usage()["requests"] == 0
    assert second == first
