"""The structured-outputs hook of benchmarks/vllm_teacher_throughput.py: tests_vllm.forced's
forced actions (three-turn trajectories from a random model), noting when the first request of
the run was made. It runs in the Beam worker, which the benchmark keeps in its own process."""

from __future__ import annotations

import time
from collections.abc import Sequence

from drawreason.teachers.base import ChatMessage

from tests_vllm.forced import forced_actions

HOOK = "benchmarks.forced_timing:forced_actions_timed"
FIRST_REQUEST: list[float] = []  # wall-clock time (time.time) of the first request


def forced_actions_timed(messages: Sequence[ChatMessage]) -> dict[str, str] | None:
    if not FIRST_REQUEST:
        FIRST_REQUEST.append(time.time())
    return forced_actions(messages)
