"""GRPO trainer with the pipeline's drawing environment, tiny random Qwen2-VL on CPU: rewards
rise on a learnable toy RL shard (seeded, numbers printed), environment tokens are masked,
resume continues exactly."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest
from drawreason.drawing.prompts import Prompts
from drawreason.trainer.common import load_processor
from drawreason.trainer.data import Encoder, load_rl_samples
from drawreason.trainer.grpo import (
    GRPOConfig,
    Policy,
    evaluate_policy,
    group_advantages,
    make_rollouts,
    run_rollouts,
    run_train_grpo,
    train_grpo,
)
from drawreason.trainer.sft import SFTConfig, train_sft

from tests_vllm.trainer_data import write_prompts, write_toy_rl, write_warmup_sft


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> dict[str, str]:
    """Toy RL run dir (answer always B) and a policy warmed up by our SFT trainer to answer in
    the docs/protocol.md format with a random letter (reward ~ 0.5 = 1/4 x 2 under acc_gated)."""
    root = tmp_path_factory.mktemp("toy")
    prompts = write_prompts(root / "prompts")
    write_toy_rl(root)
    shard = write_warmup_sft(root, prompts)
    warm = train_sft(
        SFTConfig(
            data=str(shard),
            model=str(tiny_model),
            output=str(root / "warmup"),
            max_steps=50,
            lr=3e-3,
            batch_size=4,
            grad_accum=1,
            warmup_ratio=0.0,
            scheduler="constant",
            quiet=True,
        )
    )
    return {"data": str(root), "prompts": str(prompts), "policy": warm["checkpoint"]}


def _config(toy: dict[str, str], output: Path, **kw) -> GRPOConfig:
    base = dict(
        data=toy["data"],
        model=toy["policy"],
        output=str(output),
        prompts=toy["prompts"],
        group_size=8,
        questions_per_step=1,
        lr=5e-4,
        max_new_tokens=32,
        temperature=1.0,
        seed=0,
        quiet=True,
    )
    base.update(kw)
    return GRPOConfig(**base)


def test_grpo_raises_the_reward(toy: dict[str, str], tmp_path: Path) -> None:
    config = _config(toy, tmp_path / "grpo", steps=24)
    before = evaluate_policy(config, toy["policy"], rollouts_per_question=8)
    result = run_train_grpo(config, str(tmp_path / "unused"))
    after = evaluate_policy(config, result["final_model"], rollouts_per_question=8)
    rewards = result["rewards"]
    first, last = rewards[0], statistics.fmean(rewards[-6:])
    print(
        f"\nGRPO toy (24 steps, 8 rollouts/step, lr 5e-4, seed 0): per-step mean reward "
        f"{rewards}\n  step 0 {first:.3f} -> last 6 steps {last:.3f}; held-out eval (32 "
        f"rollouts) before {before['reward_mean']:.3f} (acc {before['accuracy']:.3f}, format "
        f"{before['format']:.3f}) -> after {after['reward_mean']:.3f} (acc "
        f"{after['accuracy']:.3f}, format {after['format']:.3f})"
    )
    assert result["stage"] == "train_grpo" and result["accounted"]
    assert last > first + 0.5
    assert after["reward_mean"] > before["reward_mean"] + 0.5
    assert after["accuracy"] > before["accuracy"]


class ScriptedGenerator:
    """Replies with fixed texts (a drawing turn, then an answer), tokenised as a model would
    emit them, to check what the environment appends and what the loss sees."""

    def __init__(self, policy: Policy, replies: list[str]) -> None:
        self.policy = policy
        self.replies = replies

    def generate(self, rollouts, seed):
        out = []
        for r in rollouts:
            text = self.replies[len(r.conv.env.turns)]
            out.append(
                (self.policy.encoder.tokenize(text) + [self.policy.encoder.im_end_id], "stop")
            )
        return out


def test_environment_tokens_are_masked(
    toy: dict[str, str], tiny_model: Path, tmp_path: Path
) -> None:
    config = _config(toy, tmp_path / "x", group_size=2)
    policy = Policy(Encoder(load_processor(str(tiny_model))), config)
    sample = load_rl_samples(toy["data"])[0]
    replies = [
        "<think> box it </think> Action: Object Mapper\n```json\n"
        '[{"index": 1, "bbox_2d": [5, 5, 30, 30], "label": "a"}]\n```',
        "<think> done </think> Action: Answer\n<answer> B </answer>",
    ]
    rollouts = make_rollouts([sample], 2, policy, Prompts(toy["prompts"]), config, 0)
    run_rollouts(rollouts, ScriptedGenerator(policy, replies), policy, config, 0)
    r = rollouts[0]
    tok = policy.tok
    assert r.conv.record().termination == "answered"
    assert len(r.conv.env.images) == 2  # the environment rendered the drawing
    trained = tok.decode([t for t, m in zip(r.ids, r.trained, strict=False) if m])
    assert trained == "".join(x + "<|im_end|>" for x in replies)
    untrained = tok.decode(
        [t for t, m in zip(r.ids[r.prompt_len :], r.trained[r.prompt_len :], strict=False) if not m]
    )
    assert "The index of the given image is 2" in untrained  # the environment turn, masked
    assert untrained.count("<|vision_start|>") == 1
    assert r.scores["accuracy"] == 1.0 and r.scores["format"] == 1.0 and r.reward == 2.0
    assert group_advantages(rollouts) == [0.0, 0.0]  # equal rewards: no signal


def test_grpo_resume_continues_exactly(toy: dict[str, str], tmp_path: Path) -> None:
    straight = train_grpo(_config(toy, tmp_path / "a", steps=4))
    train_grpo(_config(toy, tmp_path / "b", steps=4, stop_after_steps=2))
    resumed = train_grpo(_config(toy, tmp_path / "b", steps=4, resume=True))
    print(f"\nGRPO resume: straight {straight['rewards']}, resumed steps 3-4 {resumed['rewards']}")
    assert resumed["steps"] == 4
    assert resumed["rewards"] == straight["rewards"][2:]
    assert [h["pg_loss"] for h in resumed["history"]] == pytest.approx(
        [h["pg_loss"] for h in straight["history"][2:]], rel=1e-3, abs=1e-6
    )


def test_grpo_generates_with_vllm(toy: dict[str, str], tmp_path: Path) -> None:
    """`generator: vllm` samples the group from a vLLM engine started on the saved policy and
    trains on exactly the token ids it produced."""
    config = _config(toy, tmp_path / "grpo-vllm", steps=2, group_size=4, generator="vllm")
    result = run_train_grpo(config, str(tmp_path / "unused"))
    assert result["steps"] == 2 and len(result["rewards"]) == 2
    assert all(0.0 <= reward <= 2.0 for reward in result["rewards"])
    assert len(result["history"]) == 2
    assert all(h["pg_loss"] == h["pg_loss"] for h in result["history"])  # not NaN
    assert Path(result["final_model"]).is_dir()
