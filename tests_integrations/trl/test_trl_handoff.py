"""The hand-off TRL command's arguments through the example script into TRL's GRPOConfig."""

from __future__ import annotations

from drawreason.integrations.trl.train import arg_parser, args_from
from drawreason.trainer.handoff_rl import trl_args


def test_handoff_args_make_a_grpo_config_with_vilasr_hyper_parameters(tmp_path):
    args = trl_args("Qwen/Qwen2.5-VL-7B-Instruct", ["a.parquet"], str(tmp_path / "out"))
    args.remove("--bf16")  # bf16 needs a device that has it; the rest is checked on CPU
    ns = arg_parser().parse_args(args)
    assert ns.grounding_weight == 0.0  # the reward's, not TRL's config
    config = args_from(ns)
    assert config.num_generations == 8
    assert config.beta == 0.0
    assert config.learning_rate == 1e-6
    assert config.max_tool_calling_iterations == 9  # max_calls 10, the answer included
