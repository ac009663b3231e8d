"""Multi-turn drawing GRPO with TRL (trl==1.16.0): the example script.

    python -m drawreason.integrations.trl.train --data RUN/verl/*.parquet \\
        --model Qwen/Qwen2.5-VL-7B-Instruct --output-dir saves/stage3_trl

reads the verl Parquet the rl_data stage writes (`rl_format: verl`, `integrations.trl.data`),
makes the processor speak the drawing protocol (`integrations.trl.protocol.use_protocol`) and
trains with `GRPOTrainer(environment_factory=DrawingEnvironment, reward_funcs=DrawingReward)`.
Defaults are ViLaSR's stage-3 hyper-parameters: 8 rollouts per prompt, no KL (beta 0), lr 1e-6.
`--grounding-weight w` > 0 adds the reward's dense grounding term on rows with oracle facts
(docs/reward.md; default 0: off).
Generation is transformers `generate` unless `--use-vllm` (TRL's own vLLM integration; GPU).
"""

from __future__ import annotations

import argparse
import glob
import logging
from collections.abc import Sequence
from typing import Any

from drawreason.integrations.trl.data import read_verl_parquet, trl_dataset
from drawreason.integrations.trl.environment import DrawingEnvironment, DrawingReward
from drawreason.integrations.trl.protocol import use_protocol

DEFAULTS: dict[str, Any] = {  # ViLaSR stage 3: n=8, no KL, lr 1e-6
    "num_generations": 8,
    "beta": 0.0,
    "learning_rate": 1e-6,
    "temperature": 1.0,
    "max_completion_length": 8192,
    "max_calls": 10,
    "grounding_weight": 0.0,  # the reward's, not TRL's: off
}
OURS = ("max_calls", "grounding_weight")  # options of the environment and reward, not TRL's


def grpo_args(
    output_dir: str,
    max_calls: int = DEFAULTS["max_calls"],
    **overrides: Any,
) -> Any:
    """TRL's GRPOConfig with our defaults; `max_calls` (assistant turns, answer included)
    bounds TRL's tool loop at max_calls - 1 drawing calls. Unknown keys raise TypeError."""
    from trl import GRPOConfig

    values = {k: v for k, v in DEFAULTS.items() if k not in OURS}
    values.update(overrides)
    values.setdefault("max_tool_calling_iterations", max(max_calls - 1, 0))
    values.setdefault("remove_unused_columns", False)  # the env and reward read row columns
    values.setdefault("report_to", "none")
    return GRPOConfig(output_dir=output_dir, **values)


def build_trainer(
    model: Any,
    processor: Any,
    dataset: Any,
    args: Any,
    grounding_weight: float = DEFAULTS["grounding_weight"],
) -> Any:
    """The GRPOTrainer over our environment and reward; `model` is a model or its path,
    `grounding_weight` the reward's (`DrawingReward`)."""
    from trl import GRPOTrainer

    use_protocol(processor)
    return GRPOTrainer(
        model=model,
        reward_funcs=DrawingReward(processor, grounding_weight=grounding_weight),
        args=args,
        train_dataset=dataset,
        processing_class=processor,
        environment_factory=DrawingEnvironment,
    )


def arg_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--data", nargs="+", required=True, help="verl Parquet file(s) or globs")
    parser.add_argument("--model", required=True, help="a Qwen2/2.5-VL model id or directory")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--max-steps", type=int, default=-1)
    parser.add_argument("--max-calls", type=int, default=DEFAULTS["max_calls"])
    parser.add_argument("--num-generations", type=int, default=DEFAULTS["num_generations"])
    parser.add_argument("--learning-rate", type=float, default=DEFAULTS["learning_rate"])
    parser.add_argument("--per-device-train-batch-size", type=int, default=8)
    parser.add_argument(
        "--max-completion-length", type=int, default=DEFAULTS["max_completion_length"]
    )
    parser.add_argument(
        "--grounding-weight",
        type=float,
        default=DEFAULTS["grounding_weight"],
        help="> 0: the reward's dense grounding term on rows with oracle facts (default off)",
    )
    parser.add_argument("--use-vllm", action="store_true")
    parser.add_argument("--bf16", action="store_true")
    return parser


def args_from(ns: argparse.Namespace) -> Any:
    """GRPOConfig from parsed command-line arguments."""
    return grpo_args(
        ns.output_dir,
        max_calls=ns.max_calls,
        max_steps=ns.max_steps,
        num_generations=ns.num_generations,
        learning_rate=ns.learning_rate,
        per_device_train_batch_size=ns.per_device_train_batch_size,
        max_completion_length=ns.max_completion_length,
        use_vllm=ns.use_vllm,
        bf16=ns.bf16,
    )


def main(argv: Sequence[str] | None = None) -> None:
    ns = arg_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    from transformers import AutoProcessor

    paths = sorted({p for pattern in ns.data for p in glob.glob(pattern)})
    if not paths:
        raise SystemExit(f"no Parquet files match {ns.data}")
    dataset = trl_dataset(read_verl_parquet(paths))
    processor = AutoProcessor.from_pretrained(ns.model, padding_side="left")
    trainer = build_trainer(ns.model, processor, dataset, args_from(ns), ns.grounding_weight)
    trainer.train()
    trainer.save_model(ns.output_dir)


if __name__ == "__main__":
    main()
