"""The drawing environment behind TRL's `GRPOTrainer(environment_factory=DrawingEnvironment)`.

TRL (1.16, `trl/trainer/grpo_trainer.py`) makes one instance per rollout, calls
`reset(**row)` with the dataset row before generation, exposes every public method but
`reset` / `get_reward` as a tool (schema from type hints and docstring), calls a tool with the
arguments it parsed from the completion (`tokenizer.parse_response`, made the project's parser
by `integrations.trl.protocol.use_protocol`), and appends what the tool returns as a `tool`
message: a list of content parts (`{"type": "image", "image": PIL}` / `{"type": "text"}`)
goes back to the model with its images. Everything that decides what a call does is
`integrations.session.DrawingSession`, i.e. the project's `DrawingEnv`: parser, per-image
state, renderer, budgets, terminations, image numbering.

What TRL does not let a tool do: end the rollout. When a call ends the trajectory
(`budget_exhausted`, an invalid operation, too many images) or comes after it ended, the tool
raises `TrajectoryEnded`; TRL turns that into an `{"error": ...}` tool message and counts it in
`tools/failure_frequency`, and the model may still write one more turn. Bound the loop with
`GRPOConfig.max_tool_calling_iterations = max_calls - 1` (`integrations.trl.train` does); the
reward scores the text, and an invalid call is scored as invalid there as everywhere.

`DrawingReward` is the reward: `trainer.reward.compute_score` (`overall`) on each completion
decoded with its markup, as EasyR1, verl and our own trainer score it, with the row's oracle
facts and the configured `grounding_weight` (off by default).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from drawreason.drawing.prompts import Prompts
from drawreason.integrations.session import Budgets, DrawingSession
from drawreason.trainer.reward import compute_score
from PIL import Image


class TrajectoryEnded(RuntimeError):
    """A drawing call ended the trajectory, or came after it ended (TRL reports it as a tool
    error; the message names the termination)."""


class DrawingEnvironment:
    """One rollout's drawing environment. Dataset rows carry `images` (the inputs as the
    policy sees them) and `budgets` (`integrations.session.Budgets.to_kwargs()`)."""

    def __init__(self, prompts: Prompts | None = None) -> None:
        self.prompts = prompts
        self.session: DrawingSession | None = None

    def reset(
        self,
        images: Sequence[Image.Image] | None = None,
        budgets: dict[str, Any] | None = None,
        **row: Any,
    ) -> None:
        """Start a trajectory on the row's input images; returns None (the prompt is the row's)."""
        if not images:
            raise ValueError(f"row {row.get('item_id', '')!r}: a drawing rollout needs images")
        self.session = DrawingSession(
            list(images), Budgets.from_kwargs(budgets or {}), self.prompts
        )

    def object_mapper(self, operations: list[dict]) -> list[dict]:
        """Draw labelled bounding boxes on images and get the drawn images back.

        Args:
            operations: Boxes, each {"index": i, "bbox_2d": [x1, y1, x2, y2], "label": "..."}.

        Returns:
            The new images and the environment's reply, as chat content parts.
        """
        return self._call("object_mapper", operations)

    def path_tracer(self, operations: list[dict]) -> list[dict]:
        """Draw labelled lines on images and get the drawn images back.

        Args:
            operations: Lines, each {"index": i, "start_point_2d": [x, y], "end_point_2d": [x, y]}.

        Returns:
            The new images and the environment's reply, as chat content parts.
        """
        return self._call("path_tracer", operations)

    def _call(self, tool: str, operations: list[dict]) -> list[dict]:
        if self.session is None:
            raise RuntimeError("reset() was not called before a drawing call")
        if self.session.done:
            raise TrajectoryEnded(f"the trajectory already ended ({self.session.termination})")
        result = self.session.call(tool, operations)
        if result.done:
            detail = result.turn.error_detail or result.termination
            raise TrajectoryEnded(f"the trajectory ended: {result.termination} ({detail})")
        return self.session.reply_content()


class DrawingReward:
    """TRL reward function: `trainer.reward.compute_score(...)["overall"]` of each completion,
    decoded from its token ids with the chat markup kept (environment turns included). Rows
    carry `ground_truth`, `question_type`, `data_type` and `oracle` (`integrations.trl.data`);
    `grounding_weight` > 0 makes grounding in the oracle a dense term of the reward (0: off).
    Raises ValueError for a negative weight."""

    __name__ = "drawing_reward"  # TRL logs a reward function under its __name__

    def __init__(
        self, processor: Any, variant: str = "acc_gated", grounding_weight: float = 0.0
    ) -> None:
        if grounding_weight < 0:
            raise ValueError(f"grounding_weight must be >= 0, got {grounding_weight}")
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.variant = variant
        self.grounding_weight = grounding_weight

    def score(
        self,
        response: str,
        ground_truth: str,
        question_type: str,
        data_type: str,
        oracle: str = "",
    ) -> float:
        """The reward of one decoded response (the text after the generation prompt);
        `oracle` the row's oracle facts as JSON ("" for none)."""
        scores = compute_score(
            response,
            str(ground_truth),
            question_type=question_type,
            data_type=data_type,
            variant=self.variant,
            oracle=oracle or None,
            grounding_weight=self.grounding_weight,
        )
        reward = float(scores["overall"])
        if not math.isfinite(reward):
            raise ValueError(f"non-finite reward {reward} for {response[:80]!r}")
        return reward

    def __call__(
        self,
        completion_ids: Sequence[Sequence[int]],
        ground_truth: Sequence[str],
        question_type: Sequence[str],
        data_type: Sequence[str],
        oracle: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> list[float]:
        texts = self.tokenizer.batch_decode([list(ids) for ids in completion_ids])
        facts = oracle if oracle is not None else [""] * len(texts)
        return [
            self.score(*args)
            for args in zip(texts, ground_truth, question_type, data_type, facts, strict=True)
        ]
