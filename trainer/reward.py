"""EasyR1/verl custom reward: scores a decoded multi-turn drawing response (SPEC §2).

Load by path (EasyR1: `worker.reward.reward_function=/path/to/trainer/reward.py:compute_score`).
Uses the same scoring code as the data filters, so training rewards and data filters agree.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import replace
from pathlib import Path

if importlib.util.find_spec("filters") is None:  # loaded by path from a checkout, not installed
    sys.path.append(str(Path(__file__).resolve().parent.parent))

from drawing.parse import parse_to_turn  # noqa: E402
from filters.scoring import (  # noqa: E402
    REFLECTION_KINDS,
    accuracy,
    detect_reflections,
    extract_answer,
    format_score,
    rl_reward,
)
from schemas.records import Trajectory, Turn  # noqa: E402

_SEGMENT_RE = re.compile(r"<\|im_start\|>(\w+)\n?(.*?)(?:<\|im_end\|>|$)", re.DOTALL)
_INDEX_RE = re.compile(r"The index of the given image is (\d+)")
_SCORED_TYPES = ("multiple choice", "numerical")


def split_turns(predict_str: str) -> list[tuple[str, str]]:
    """(role, text) turns of a decoded response. Text before the first `<|im_start|>` is the
    first assistant turn (the generation prompt already opened it)."""
    head, _, rest = predict_str.partition("<|im_start|>")
    turns = []
    head = head.replace("<|im_end|>", "").strip()
    if head:
        turns.append(("assistant", head))
    if rest:
        turns += [(r, t.strip()) for r, t in _SEGMENT_RE.findall("<|im_start|>" + rest)]
    return turns


def _turn_records(turns: list[tuple[str, str]]) -> tuple[list[Turn], list[int], int]:
    """Parsed assistant turns, the parent of every rendered image, and the number of inputs.

    Numbering follows SPEC §1: each turn's distinct referenced images, in first-reference
    order, become the next images; the first environment turn names the first new index,
    which tells how many inputs there were.
    """
    parsed: list[Turn] = []
    parents: list[int] = []
    first_new = None
    for role, text in turns:
        if role == "assistant":
            p = parse_to_turn(text)
            parsed.append(p)
            for index in dict.fromkeys(op.index for op in p.operations):
                parents.append(index)
        elif first_new is None:
            found = _INDEX_RE.search(text)
            if found:
                first_new = int(found.group(1))
    num_inputs = (first_new - 1) if first_new else 1
    # The environment would have refused an index beyond the images that existed so far.
    available = num_inputs
    for i, turn in enumerate(parsed):
        bad = [op.index for op in turn.operations if op.index > available]
        if bad and not turn.error:
            detail = f"index {bad[0]} out of range 1..{available}"
            parsed[i] = replace(turn, error="bad_operation", error_detail=detail)
        available += len(dict.fromkeys(op.index for op in turn.operations))
    return parsed, parents, num_inputs


def compute_score(
    predict_str: str,
    ground_truth: str,
    question_type: str = "multiple choice",
    data_type: str = "",
    variant: str = "acc_gated",
) -> dict[str, float]:
    """Score one decoded response; `data_type` is accepted for the trainer's call signature.

    Returns `overall` (the RL reward, `acc_gated` by default or `mean`), `format`, `accuracy`,
    `reflection` (1.0 if the response corrected a drawing on the same image lineage) and a
    count per reflection kind. No `<answer>` in the final turn scores accuracy 0."""
    turns = split_turns(predict_str)
    parsed, parents, num_inputs = _turn_records(turns)
    final = parsed[-1] if parsed else None
    answer = extract_answer(final.raw) if final is not None else None
    acc = accuracy(answer, ground_truth, question_type) if question_type in _SCORED_TYPES else 0.0
    fmt = format_score(parsed)
    reflections = detect_reflections(parsed, num_inputs, parents)
    scores = {
        "overall": rl_reward(acc, fmt, variant),
        "format": fmt,
        "accuracy": acc,
        "reflection": float(bool(reflections)),
    }
    for kind in REFLECTION_KINDS:
        scores[f"reflection_{kind}"] = float(sum(r.kind == kind for r in reflections))
    return scores


def trajectory_response(trajectory: Trajectory) -> str:
    """A trajectory's assistant side as a trainer decodes it after the generation prompt:
    assistant and environment turns in Qwen chat markup (for tests and benchmarks)."""
    parts = []
    for turn in trajectory.turns:
        parts.append(turn.raw + "<|im_end|>")
        if turn.env_reply:
            parts.append(f"\n<|im_start|>user\n{turn.env_reply}<|im_end|>\n<|im_start|>assistant\n")
    return "".join(parts)
