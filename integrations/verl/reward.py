"""verl custom reward: `trainer.reward.compute_score` in verl's signature.

verl config: `reward.custom_reward_function.path=integrations/verl/reward.py`,
`reward.custom_reward_function.name=compute_score`. verl's reward managers call
`compute_score(data_source=, solution_str=, ground_truth=, extra_info=)` with the response
decoded with `skip_special_tokens=True`, which strips Qwen's `<|im_start|>`/`<|im_end|>`
markers and leaves each later turn as "\\nuser\\n..." / "\\nassistant\\n...". The markers are
put back (`restore_markup`) so the project's reward sees the turns it scores, then the scores
come from `trainer.reward.compute_score` unchanged: `score` is its `overall`, every other
score is logged beside it. A generated question's oracle facts come in `extra_info.oracle`
(compact JSON, "" for real data); `grounding_weight` is set with
`+reward.custom_reward_function.reward_kwargs.grounding_weight=<w>` (default 0.0: off).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # loaded by path: so is trainer/reward.py, which imports our package
    _spec = importlib.util.spec_from_file_location(
        "_drawreason_reward_by_path", Path(__file__).resolve().parents[2] / "trainer" / "reward.py"
    )
    if _spec is None or _spec.loader is None:
        raise ImportError(f"no trainer/reward.py beside {__file__}")
    _spec.loader.exec_module(importlib.util.module_from_spec(_spec))

from drawreason.trainer.reward import compute_score as project_score  # noqa: E402

_ROLE_LINE = re.compile(r"\n(user|assistant|tool)\n")


def restore_markup(solution_str: str) -> str:
    """Qwen chat markup back into a response decoded without special tokens (a response that
    still has it is returned unchanged)."""
    if "<|im_start|>" in solution_str:
        return solution_str
    return _ROLE_LINE.sub(lambda m: f"<|im_end|>\n<|im_start|>{m.group(1)}\n", solution_str)


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: str,
    extra_info: dict[str, Any] | None = None,
    variant: str = "acc_gated",
    grounding_weight: float | None = None,
    **kwargs: Any,
) -> dict[str, float]:
    """verl's reward signature; `extra_info` supplies question_type, data_type and oracle
    (written by `integrations.verl.data`); extra keyword arguments from verl are ignored.
    `grounding` is always returned (0.0 for a row without facts, whose `score` is as before):
    verl stacks each logged key over the batch, so every row needs the same keys."""
    info = extra_info or {}
    scores = project_score(
        restore_markup(solution_str),
        str(ground_truth),
        question_type=str(info.get("question_type", "multiple choice")),
        data_type=str(info.get("data_type", "")),
        variant=variant,
        oracle=str(info.get("oracle") or "") or None,
        grounding_weight=grounding_weight,
    )
    return {"score": scores["overall"], "grounding": 0.0, **scores}
