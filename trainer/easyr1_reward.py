"""EasyR1 reward-function adapter around `trainer.reward.compute_score`.

Current EasyR1 (verl/workers/reward/function.py) loads `worker.reward.reward_function`
(`path.py:name`) and calls it with `RewardInput` dicts {"response", "response_length",
"ground_truth"}: one list per batch (`reward_type: batch`) or one dict at a time
(`reward_type: sequential`), and expects {"overall", "format", "accuracy", ...} back. Our shared
scorer takes (predict_str, ground_truth, question_type, ...); EasyR1 passes only the ground
truth, so the question type is inferred from it: a single option letter is multiple choice,
anything else numerical (exactly the two scored types of our RL shards). The hand-off config
reads the `reward_truth` column as the ground truth, which carries a generated question's
oracle facts (schemas/rl.py), so `grounding` is scored for those rows; `grounding_weight` in
`worker.reward.reward_function_kwargs` (default 0.0) makes it a dense term of `overall`.

Set `worker.reward.skip_special_tokens: false` so multi-turn responses keep their
`<|im_start|>` / `<|im_end|>` markers (the scorer splits turns on them).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # loaded by path: so is trainer/reward.py, which imports our package
    _spec = importlib.util.spec_from_file_location(
        "_drawreason_reward_by_path", Path(__file__).resolve().parents[1] / "trainer" / "reward.py"
    )
    if _spec is None or _spec.loader is None:
        raise ImportError(f"no trainer/reward.py beside {__file__}")
    _spec.loader.exec_module(importlib.util.module_from_spec(_spec))

from drawreason.schemas.rl import split_reward_truth  # noqa: E402
from drawreason.trainer.reward import compute_score as score_response  # noqa: E402

_LETTER = re.compile(r"^\(?[A-Za-z]\)?\.?$")


def question_type_of(ground_truth: str) -> str:
    """The question type of a ground truth (a plain answer or a `reward_truth`)."""
    answer, _ = split_reward_truth(ground_truth)
    return "multiple choice" if _LETTER.match(answer.strip()) else "numerical"


def _one(item: dict[str, Any], variant: str, grounding_weight: float | None) -> dict[str, float]:
    truth = str(item["ground_truth"])
    return score_response(
        item["response"],
        truth,
        question_type_of(truth),
        "",
        variant,
        grounding_weight=grounding_weight,
    )


def compute_score(
    reward_inputs: list[dict[str, Any]] | dict[str, Any],
    variant: str = "acc_gated",
    grounding_weight: float | None = None,
) -> list[dict[str, float]] | dict[str, float]:
    """EasyR1 batch (list in, list out) or sequential (dict in, dict out) reward function;
    `variant` and `grounding_weight` can be set through
    `worker.reward.reward_function_kwargs`."""
    if isinstance(reward_inputs, dict):
        return _one(reward_inputs, variant, grounding_weight)
    return [_one(item, variant, grounding_weight) for item in reward_inputs]
