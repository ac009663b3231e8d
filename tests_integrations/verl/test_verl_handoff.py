"""The hand-off verl command's overrides against verl 0.9.1's own trainer config (.venv-verl)."""

from __future__ import annotations

from pathlib import Path

import verl
from drawreason.trainer.handoff_rl import verl_overrides
from omegaconf import OmegaConf


def test_overrides_name_keys_of_verls_ppo_trainer_config():
    config = OmegaConf.load(
        Path(verl.__file__).parent / "trainer" / "config" / "_generated_ppo_trainer.yaml"
    )
    OmegaConf.set_struct(config, True)  # an unknown key raises, as in verl's Hydra run
    overrides = verl_overrides("Qwen/Qwen2.5-VL-7B-Instruct", ["a.parquet", "b.parquet"], "out")
    # Hydra's syntax: `key=value` overrides a key that must exist; `+key=value` adds one that
    # must not exist yet, under a parent that does.
    plain = [o for o in overrides if not o.startswith("+")]
    added = [o[1:] for o in overrides if o.startswith("+")]
    merged = OmegaConf.merge(config, OmegaConf.from_dotlist(plain))
    for override in added:
        key = override.split("=", 1)[0]
        assert OmegaConf.select(config, key) is None, f"+{key}: verl's config has it already"
        assert key.split(".")[0] in config, f"+{key}: no such section in verl's config"
        OmegaConf.set_struct(merged, False)
        merged = OmegaConf.merge(merged, OmegaConf.from_dotlist([override]))
        OmegaConf.set_struct(merged, True)
    assert merged.actor_rollout_ref.rollout.n == 8
    assert merged.actor_rollout_ref.rollout.multi_turn.format == "drawreason"
    assert list(merged.data.train_files) == ["a.parquet", "b.parquet"]
    assert merged.actor_rollout_ref.actor.use_kl_loss is False
    assert merged.reward.custom_reward_function.reward_kwargs.grounding_weight == 0.0
