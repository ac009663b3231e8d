"""The RL reward: scores a decoded multi-turn drawing trajectory (docs/reward.md).

Load by path (EasyR1: `worker.reward.reward_function=/path/to/trainer/reward.py:compute_score`;
ViLaSR's fork: its `gcot` score function replaced by this one). Trainers pass one trajectory in
different forms; every form gets the same scores:

- the whole decoded sequence (ViLaSR's fork): system turn, first user turn with the question,
  the generation prompt, then assistant and environment turns in Qwen chat markup;
- the response only (EasyR1, our trainer): the text after the generation prompt;
- either one ending in `<|im_end|>`, `<|endoftext|>` (padding included) or no end token.

Scoring is the data filters' code (filters/scoring.py) and operations are checked by the drawing
environment's own check (index range, points inside their image, no duplicate operation), so a
filter and a reward never disagree on one string.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple


def _import_own_package() -> None:
    """Import the drawreason package this file belongs to, when a trainer loads it by path.

    The file sits in an installed package (site-packages/drawreason/trainer/reward.py) or in a
    checkout (drawreason/__init__.py beside trainer/). That package's __init__ is loaded as
    `drawreason`, with nothing added to sys.path, so another project's `filters` or `schemas`,
    imported already or first on sys.path, never stands in for ours. Raises ImportError when a
    different drawreason is imported already (mixing two versions would go unnoticed).
    """
    package = Path(__file__).resolve().parent.parent
    init = package / "__init__.py"
    if not init.is_file():  # a checkout: the namespace package is the folder beside trainer/
        init = package / "drawreason" / "__init__.py"
    loaded = sys.modules.get("drawreason")
    if loaded is not None:
        if Path(loaded.__file__ or "").resolve() != init:
            raise ImportError(
                f"{__file__} belongs to the drawreason package at {init.parent}, but another "
                f"one is imported already ({loaded.__file__}): load this file from that one"
            )
        return
    spec = importlib.util.spec_from_file_location("drawreason", init)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the drawreason package at {init}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["drawreason"] = module
    spec.loader.exec_module(module)


if __package__ in (None, ""):  # loaded by path (EasyR1, ViLaSR's fork, verl)
    _import_own_package()

from drawreason.drawing.environment import check_operations, operation_signature  # noqa: E402
from drawreason.drawing.parse import parse_to_turn  # noqa: E402
from drawreason.drawing.prompts import Prompts  # noqa: E402
from drawreason.filters.grounding import ground_operations  # noqa: E402
from drawreason.filters.scoring import (  # noqa: E402
    REFLECTION_KINDS,
    accuracy,
    detect_reflections,
    extract_answer,
    format_score,
    rl_reward,
)
from drawreason.schemas.oracle import OracleFacts, oracle_from_dict  # noqa: E402
from drawreason.schemas.records import Trajectory, Turn  # noqa: E402
from drawreason.schemas.rl import split_reward_truth  # noqa: E402

IM_START, IM_END, END_OF_TEXT = "<|im_start|>", "<|im_end|>", "<|endoftext|>"
_SEGMENT_RE = re.compile(
    r"<\|im_start\|>(\w+)\n?(.*?)(?=<\|im_end\|>|<\|im_start\|>|\Z)", re.DOTALL
)
_IMAGE_TOKEN_RE = re.compile(r"<\|vision_start\|>|<image>")
_SCORED_TYPES = ("multiple choice", "numerical")
_TYPE_ALIASES = {"regression": "numerical"}  # SpaceR-style sources name numerical so
PROMPTS_ENV = "DRAWREASON_PROMPTS_DIR"  # the prompt set the trajectories were made with
# grounding_weight for trainers that call the score function with fixed arguments (ViLaSR's fork)
GROUNDING_WEIGHT_ENV = "DRAWREASON_GROUNDING_WEIGHT"


class Decoded(NamedTuple):
    """One decoded trajectory: the prompt's turns (empty in the response-only form) and the
    (role, text) turns from the first assistant turn on. (Named tuples, not dataclasses: a
    module that trainers load by path may not be in sys.modules, which dataclasses need.)"""

    prompt: tuple[tuple[str, str], ...]
    turns: tuple[tuple[str, str], ...]


def _strip_end(text: str) -> str:
    """The text without trailing end tokens, padding and whitespace."""
    while True:
        stripped = text.rstrip()
        for token in (END_OF_TEXT, IM_END):
            stripped = stripped.removesuffix(token)
        if stripped == text:
            return text
        text = stripped


def decode_turns(predict_str: str) -> Decoded:
    """Split a decoded sequence into its prompt and its turns.

    A sequence that starts with `<|im_start|>` is the whole conversation: the turns before the
    first assistant turn are the prompt. Otherwise the text before the first `<|im_start|>` is
    the first assistant turn (the generation prompt already opened it).
    """
    text = _strip_end(predict_str)
    if text.lstrip().startswith(IM_START):
        segments = [(role, body.strip()) for role, body in _SEGMENT_RE.findall(text)]
        first = next((i for i, (role, _) in enumerate(segments) if role == "assistant"), None)
        if first is None:
            return Decoded(tuple(segments), ())
        return Decoded(tuple(segments[:first]), tuple(segments[first:]))
    head, _, rest = text.partition(IM_START)
    turns = []
    head = head.replace(IM_END, "").strip()
    if head:
        turns.append(("assistant", head))
    if rest:
        turns += [(r, t.strip()) for r, t in _SEGMENT_RE.findall(IM_START + rest)]
    return Decoded((), tuple(turns))


def split_turns(predict_str: str) -> list[tuple[str, str]]:
    """(role, text) turns of a decoded trajectory from its first assistant turn on."""
    return list(decode_turns(predict_str).turns)


@functools.lru_cache(maxsize=8)
def _line_patterns(prompts_dir: str) -> tuple[re.Pattern[str], ...]:
    return Prompts(prompts_dir or None).image_line_patterns()


def _image_lines(text: str, patterns: tuple[re.Pattern[str], ...]) -> list[dict[str, int]]:
    found: dict[int, dict[str, int]] = {}
    for pattern in patterns:
        for match in pattern.finditer(text):
            fields = {k: int(v) for k, v in match.groupdict().items() if v is not None}
            found.setdefault(match.start(), fields)
    return [found[k] for k in sorted(found)]


class Replayed(NamedTuple):
    """Assistant turns as the environment would have recorded them, the parent of every
    rendered image, and the number of input images."""

    turns: tuple[Turn, ...]
    parents: tuple[int, ...]
    num_inputs: int


def replay(decoded: Decoded, prompts_dir: str = "") -> Replayed:
    """Parse every assistant turn and check its operations as the environment did.

    Inputs are counted from the first user turn (its image tokens, else its image lines), or in
    the response-only form from the first environment turn's first image index. Image sizes come
    from the image lines (`index`, `width`, `height` of the prompt set's templates); a rendered
    image has its parent's size, so an input's size is known once anything drawn on it was
    shown. Where no size is known, only the index range and duplicates are checked.
    """
    patterns = _line_patterns(prompts_dir)
    users = [text for role, text in decoded.prompt if role == "user"]
    sizes: dict[int, tuple[int, int]] = {}
    first_new = None
    num_inputs = 0
    if users:
        question = users[0]
        lines = _image_lines(question, patterns)
        num_inputs = len(_IMAGE_TOKEN_RE.findall(question)) or len(lines)
        for n, line in enumerate(lines, start=1):
            if "width" in line and "height" in line:
                sizes[line.get("index", n)] = (line["width"], line["height"])
    parsed: list[Turn] = []
    parents: list[int] = []
    for role, text in decoded.turns:
        if role == "assistant":
            turn = parse_to_turn(text)
            parsed.append(turn)
            if not turn.error:
                parents.extend(dict.fromkeys(op.index for op in turn.operations))
            continue
        for line in _image_lines(text, patterns):
            if "index" not in line:
                continue
            first_new = line["index"] if first_new is None else first_new
            if "width" in line and "height" in line:
                sizes.setdefault(line["index"], (line["width"], line["height"]))
    if not num_inputs:
        num_inputs = first_new - 1 if first_new and first_new > 1 else 1
    # Rendered images have their parent's size; an input learns its size from a child.
    for k, parent in enumerate(parents, start=num_inputs + 1):
        if parent in sizes:
            sizes.setdefault(k, sizes[parent])
        elif k in sizes:
            sizes[parent] = sizes[k]
    checked: list[Turn] = []
    issued: set[tuple] = set()
    count = num_inputs
    for turn in parsed:
        if not turn.error and turn.operations:
            known = [sizes.get(i) for i in range(1, count + 1)]
            reason, detail = check_operations(turn.operations, known, issued)
            if reason:
                turn = replace(turn, error=reason, error_detail=detail)
            else:
                issued.update(operation_signature(op) for op in turn.operations)
                count += len(dict.fromkeys(op.index for op in turn.operations))
        checked.append(turn)
    return Replayed(tuple(checked), tuple(parents), num_inputs)


def compute_score(
    predict_str: str,
    ground_truth: str,
    question_type: str = "multiple choice",
    data_type: str = "",
    variant: str = "acc_gated",
    prompts_dir: str | None = None,
    oracle: OracleFacts | dict | str | None = None,
    grounding_weight: float | None = None,
) -> dict[str, float]:
    """Score one decoded trajectory in any of the forms above (the call signature of ViLaSR's
    reward manager; `data_type` is accepted for it and not used).

    Returns `overall` (the RL reward: `acc_gated` = accuracy + format, or `mean` = 0.5 accuracy
    + 0.5 format, both 0 when accuracy is 0), `format`, `accuracy`, `reflection` (1.0 if the
    trajectory corrected a drawing on one image lineage) and a count per reflection kind. No
    `<answer>` in the final turn scores accuracy 0; a ground truth `<answer>B</answer>` is `B`.
    `prompts_dir` (default: the DRAWREASON_PROMPTS_DIR environment variable, else our default
    templates) is the prompt set whose image lines tell the image sizes.

    With `oracle` (a generated question's oracle facts: the record, its JSON dict or JSON
    text, as `QAItem.oracle` writes it), or a `ground_truth` that is an RL row's
    `reward_truth` carrying them (schemas/rl.py: the answer and the facts as compact JSON, the
    only per-row column EasyR1 and ViLaSR's fork hand a reward), the result also has
    `grounding`, the share of drawing operations grounded in the oracle (filters/grounding.py);
    `grounding_weight` w > 0 makes it a dense term of `overall`: `- w * (1 - grounding)`,
    ungated by accuracy, so a fully grounded trajectory scores as before and each ungrounded
    share costs (default: the DRAWREASON_GROUNDING_WEIGHT environment variable, else 0: off,
    `overall` unchanged). Without facts the scores are those of a plain answer. Raises
    ValueError for a malformed reward truth or a negative weight.
    """
    if grounding_weight is None:
        grounding_weight = float(os.environ.get(GROUNDING_WEIGHT_ENV, "") or 0.0)
    ground_truth, carried = split_reward_truth(ground_truth)
    if oracle is None:
        oracle = carried
    if prompts_dir is None:
        prompts_dir = os.environ.get(PROMPTS_ENV, "")
    question_type = _TYPE_ALIASES.get(question_type, question_type)
    replayed = replay(decode_turns(predict_str), prompts_dir)
    turns = replayed.turns
    answer = extract_answer(turns[-1].raw) if turns else None
    acc = accuracy(answer, ground_truth, question_type) if question_type in _SCORED_TYPES else 0.0
    fmt = format_score(turns)
    reflections = detect_reflections(turns, replayed.num_inputs, replayed.parents)
    scores = {
        "overall": rl_reward(acc, fmt, variant),
        "format": fmt,
        "accuracy": acc,
        "reflection": float(bool(reflections)),
    }
    for kind in REFLECTION_KINDS:
        scores[f"reflection_{kind}"] = float(sum(r.kind == kind for r in reflections))
    if grounding_weight < 0:
        raise ValueError(f"grounding_weight must be >= 0, got {grounding_weight}")
    if oracle is not None:
        if isinstance(oracle, str):
            oracle = json.loads(oracle)
        facts = oracle_from_dict(oracle) if isinstance(oracle, dict) else oracle
        found = ground_operations(turns, replayed.num_inputs, replayed.parents, facts)
        scores["grounding"] = found.score
        scores["overall"] -= grounding_weight * (1.0 - found.score)
    return scores


def trajectory_response(trajectory: Trajectory) -> str:
    """A trajectory's assistant side as a trainer decodes it after the generation prompt:
    assistant and environment turns in Qwen chat markup (for tests and benchmarks)."""
    parts = []
    for turn in trajectory.turns:
        parts.append(turn.raw + IM_END)
        if turn.env_reply:
            parts.append(f"\n{IM_START}user\n{turn.env_reply}{IM_END}\n{IM_START}assistant\n")
    return "".join(parts)


def trajectory_sequence(trajectory: Trajectory, end: str = IM_END) -> str:
    """A trajectory as a trainer that decodes the whole sequence passes it: system turn, first
    user turn, generation prompt, then `trajectory_response` (for tests and benchmarks)."""
    return (
        f"{IM_START}system\n{trajectory.system_prompt}{IM_END}\n"
        f"{IM_START}user\n{trajectory.user_prompt}{IM_END}\n{IM_START}assistant\n"
        + trajectory_response(trajectory).removesuffix(IM_END)
        + end
    )
