"""Hand-off commands for multi-turn drawing RL on stock trainers: verl and TRL.

Both read the verl Parquet rows the rl_data stage writes with `rl_format: verl`
(`<run>/verl/<subset>.parquet`) and run the project's drawing environment as the trainer's
tool (integrations/verl, integrations/trl). ViLaSR's stage-3 hyper-parameters: 8 rollouts
per prompt, no KL, lr 1e-6. Each command names the trainer version the integration tests ran
against (the pins of requirements-verl.txt / requirements-trl.txt; a test checks they agree).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TESTED = {"verl": "0.9.1", "trl": "1.16.0"}
ROLLOUTS, LR = 8, 1e-6


def verl_overrides(
    model: str, train_files: Sequence[str], output_dir: str, max_calls: int = 10
) -> list[str]:
    """Hydra overrides of `python3 -m verl.trainer.main_ppo` (verl 0.9.1's ppo_trainer config):
    GRPO, n=8, no KL, lr 1e-6, the async vLLM rollout with our agent loop, tools, parser
    and reward. `max_calls` (assistant turns, answer included) bounds verl's assistant turns."""
    integ = REPO / "integrations" / "verl"
    files = "[" + ",".join(str(f) for f in train_files) + "]"
    return [
        "algorithm.adv_estimator=grpo",
        "algorithm.use_kl_in_reward=False",
        f"data.train_files={files}",
        f"data.val_files={files}",
        "data.train_batch_size=128",
        "data.max_prompt_length=4096",
        "data.max_response_length=8192",
        "data.return_raw_chat=True",
        f"actor_rollout_ref.model.path={model}",
        f"actor_rollout_ref.actor.optim.lr={LR}",
        "actor_rollout_ref.actor.use_kl_loss=False",
        "actor_rollout_ref.actor.kl_loss_coef=0.0",
        "actor_rollout_ref.actor.ppo_mini_batch_size=128",
        "actor_rollout_ref.rollout.name=vllm",
        "actor_rollout_ref.rollout.mode=async",
        f"actor_rollout_ref.rollout.n={ROLLOUTS}",
        "actor_rollout_ref.rollout.multi_turn.enable=True",
        f"actor_rollout_ref.rollout.multi_turn.tool_config_path={integ / 'tool_config.yaml'}",
        "actor_rollout_ref.rollout.multi_turn.format=drawreason",
        f"actor_rollout_ref.rollout.multi_turn.max_assistant_turns={max_calls}",
        f"actor_rollout_ref.rollout.agent.agent_loop_config_path={integ / 'agent_loop.yaml'}",
        "actor_rollout_ref.rollout.agent.default_agent_loop=drawreason_agent",
        f"reward.custom_reward_function.path={integ / 'reward.py'}",
        "reward.custom_reward_function.name=compute_score",
        # > 0: a dense term for drawing grounded in a generated question's oracle (off)
        "+reward.custom_reward_function.reward_kwargs.grounding_weight=0.0",
        "trainer.total_epochs=1",
        "trainer.project_name=drawreason",
        "trainer.experiment_name=stage3_grpo_verl",
        f"trainer.default_local_dir={output_dir}",
        "trainer.logger=[console]",
    ]


def verl_command(model: str, train_files: Sequence[str], output_dir: str) -> str:
    """The shell script that runs verl GRPO on our rows, its tested version first."""
    lines = " \\\n  ".join(shlex.quote(o) for o in verl_overrides(model, train_files, output_dir))
    return (
        "#!/usr/bin/env bash\n"
        f"# Multi-turn drawing GRPO in verl (tested: verl=={TESTED['verl']}; the agent loop lives\n"
        "# under verl/experimental and moves between releases: pin it). Needs a GPU node, vLLM,\n"
        f"# qwen-vl-utils, and this checkout on PYTHONPATH (integrations/verl).\n"
        f"export PYTHONPATH={shlex.quote(str(REPO))}${{PYTHONPATH:+:$PYTHONPATH}}\n"
        f"python3 -m verl.trainer.main_ppo \\\n  {lines}\n"
    )


def trl_args(model: str, train_files: Sequence[str], output_dir: str) -> list[str]:
    """The arguments of `python -m drawreason.integrations.trl.train` (ViLaSR defaults
    spelled out)."""
    return [
        "--data",
        *[str(f) for f in train_files],
        "--model",
        model,
        "--output-dir",
        output_dir,
        "--num-generations",
        str(ROLLOUTS),
        "--learning-rate",
        str(LR),
        # > 0: a dense term for drawing grounded in a generated question's oracle (off)
        "--grounding-weight",
        "0.0",
        "--bf16",
    ]


def trl_command(model: str, train_files: Sequence[str], output_dir: str) -> str:
    """The shell script that runs TRL GRPO on our rows, its tested version first."""
    lines: list[list[str]] = []
    for arg in trl_args(model, train_files, output_dir):  # one flag and its values a line
        if arg.startswith("--") or not lines:
            lines.append([])
        lines[-1].append(shlex.quote(arg))
    args = " \\\n  ".join(" ".join(line) for line in lines)
    return (
        "#!/usr/bin/env bash\n"
        f"# Multi-turn drawing GRPO in TRL (tested: trl=={TESTED['trl']}; environment_factory is\n"
        "# experimental in TRL: pin it). No KL (beta 0) is the script's default; add --use-vllm\n"
        "# on GPUs. Run from this checkout (integrations/trl).\n"
        f"cd {shlex.quote(str(REPO))}\n"
        f"python -m drawreason.integrations.trl.train \\\n  {args}\n"
    )
