"""Trainer errors and warnings a user sees first: an empty run, a mistyped model path, a
GRPO run with nothing to learn; and final/ in the start model's own dtype."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
from drawreason.trainer.grpo import GRPOConfig, train_grpo
from drawreason.trainer.sft import SFTConfig, train_sft
from safetensors.torch import load_file

from tests_vllm.trainer_data import write_prompts, write_toy_rl, write_warmup_sft


def _dtypes(folder: Path) -> set[torch.dtype]:
    tensors: dict[str, torch.Tensor] = {}
    for shard in folder.glob("*.safetensors"):
        tensors.update(load_file(str(shard)))
    return {t.dtype for t in tensors.values() if t.is_floating_point()}


def test_final_model_keeps_the_start_models_dtype(tiny_model: Path, tmp_path: Path) -> None:
    shard = write_warmup_sft(tmp_path, write_prompts(tmp_path / "prompts"), n=2)
    out = tmp_path / "sft"
    result = train_sft(
        SFTConfig(
            data=str(shard), model=str(tiny_model), output=str(out), max_steps=1,
            grad_accum=1, quiet=True,
        )
    )  # fmt: skip
    final = Path(result["final_model"])
    assert final == out / "final"
    assert _dtypes(tiny_model) == {torch.bfloat16}
    assert _dtypes(final) == {torch.bfloat16}
    assert json.loads((final / "config.json").read_text())["dtype"] == "bfloat16"
    assert _dtypes(Path(result["checkpoint"])) == {torch.float32}  # exact resume


def test_empty_run_dir_is_named(tiny_model: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "dataset_info.json").write_text("{}")
    config = SFTConfig(data=str(run), model=str(tiny_model), output=str(tmp_path / "o"))
    with pytest.raises(ValueError, match=r"run has no kept samples: dataset_info.json is empty"):
        train_sft(config)


def test_missing_model_path_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    config = SFTConfig(data=str(tmp_path), model=str(missing), output=str(tmp_path / "o"))
    with pytest.raises(FileNotFoundError, match=f"model {missing}: no such folder"):
        train_sft(config)


def test_grpo_warns_when_no_group_has_reward_variance(
    tiny_model: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_toy_rl(tmp_path, n=2)
    config = GRPOConfig(
        data=str(tmp_path), model=str(tiny_model), output=str(tmp_path / "grpo"),
        prompts=str(write_prompts(tmp_path / "prompts")), group_size=2, questions_per_step=1,
        steps=2, max_new_tokens=8, warn_flat_steps=2, quiet=True,
    )  # fmt: skip
    caplog.set_level(logging.WARNING)
    result = train_grpo(config)
    assert result["rewards"] == [0.0, 0.0]  # the random model never answers in format
    warnings = [r.getMessage() for r in caplog.records if "nothing to learn" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].startswith("train_grpo: 2 steps in a row")
