"""Hand-off configs: LLaMA-Factory YAMLs parsed by LLaMA-Factory's own argument parser (in
.venv-lf / $LLAMAFACTORY_PYTHON), the EasyR1 config checked key by key against EasyR1's config
dataclasses (EasyR1 needs GPUs/Ray and is not installed here) and its reward file loaded by
path the way EasyR1 loads it."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from drawreason.trainer.handoff import check_easyr1_keys, write_handoff

ROOT = Path(__file__).resolve().parents[1]
LF_PYTHON = os.environ.get("LLAMAFACTORY_PYTHON") or str(ROOT / ".venv-lf" / "bin" / "python")
# Parse with get_train_args (HfArgumentParser over LLaMA-Factory's dataclasses: unknown keys
# fail) and the model-free checks that follow it. `use_cpu` is the one override: on a machine
# without a GPU transformers refuses bf16 otherwise. No model is loaded, nothing trains.
LF_CHECK = """
import json, sys, yaml
from llamafactory.hparams import get_train_args
cfg = yaml.safe_load(open(sys.argv[1]))
cfg["use_cpu"] = True
model, data, training, finetuning, generating = get_train_args(cfg)
print(json.dumps({"model": model.model_name_or_path, "dataset": data.dataset,
  "dataset_dir": data.dataset_dir, "template": data.template, "stage": finetuning.stage,
  "finetuning_type": finetuning.finetuning_type,
  "freeze_vision_tower": finetuning.freeze_vision_tower,
  "lr": training.learning_rate, "epochs": training.num_train_epochs,
  "scheduler": str(training.lr_scheduler_type), "warmup_ratio": training.warmup_ratio,
  "bf16": training.bf16, "output_dir": training.output_dir}))
"""


def _run(stage: str, out: Path, n: int = 2) -> Path:
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "run_pipeline.py"),
            "--stage",
            stage,
            "--output",
            str(out),
            "--num-samples",
            str(n),
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    return out


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("handoff")
    cold = _run("cold_start_data", base / "cold")
    rl = _run("rl_data", base / "rl_run")
    # A run dir holding both (as one project dir would): our RL shards beside the SFT data.
    shutil.copytree(rl / "rl", cold / "rl")
    shutil.copytree(rl / "images", cold / "images", dirs_exist_ok=True)
    # Reflective data in its own run dir: same sharegpt layout under sft/reflective.
    refl = base / "reflective"
    (refl / "sft" / "reflective").mkdir(parents=True)
    shutil.copy(
        cold / "sft" / "cold_start" / "scenes.jsonl", refl / "sft" / "reflective" / "scenes.jsonl"
    )
    shutil.copytree(cold / "images", refl / "images")
    info = json.loads((cold / "dataset_info.json").read_text())
    entry = dict(info["cold_start_scenes"], file_name="sft/reflective/scenes.jsonl")
    (refl / "dataset_info.json").write_text(json.dumps({"reflective_scenes": entry}))
    return {"cold": cold, "reflective": refl}


def test_handoff_configs(run_dirs: dict[str, Path], tiny_model: Path, tmp_path: Path) -> None:
    written = write_handoff(
        run_dirs["cold"],
        tmp_path / "configs",
        model=str(tiny_model),
        reflective_run_dir=run_dirs["reflective"],
    )
    assert set(written) == {"stage1", "stage2", "stage3"}
    s1 = yaml.safe_load(Path(written["stage1"]).read_text())
    s2 = yaml.safe_load(Path(written["stage2"]).read_text())
    for cfg in (s1, s2):
        assert cfg["stage"] == "sft" and cfg["do_train"] is True
        assert cfg["finetuning_type"] == "full" and cfg["freeze_vision_tower"] is True
        assert cfg["template"] == "qwen2_vl" and cfg["learning_rate"] == 1e-5
        assert cfg["num_train_epochs"] == 3.0 and cfg["lr_scheduler_type"] == "cosine"
        assert cfg["warmup_ratio"] == 0.1 and cfg["bf16"] is True
    assert s1["dataset_dir"] == str(run_dirs["cold"].resolve())
    assert s1["dataset"] == "cold_start_maze,cold_start_scenes"
    assert s2["dataset"] == "reflective_scenes" and s2["model_name_or_path"] == s1["output_dir"]

    s3 = yaml.safe_load(Path(written["stage3"]).read_text())
    assert check_easyr1_keys(s3) == []
    assert check_easyr1_keys({**s3, "bogus": 1}) == ["bogus"]
    assert s3["worker"]["rollout"]["n"] == 8
    assert s3["algorithm"]["disable_kl"] is True and s3["algorithm"]["use_kl_loss"] is False
    assert s3["worker"]["actor"]["optim"]["lr"] == 1e-6
    assert s3["worker"]["actor"]["model"]["model_path"] == s2["output_dir"]
    data = s3["data"]
    assert Path(data["train_files"]).exists()
    record = json.loads(next((run_dirs["cold"] / "rl").glob("*.jsonl")).read_text().splitlines()[0])
    for key in ("prompt_key", "answer_key", "image_key"):
        assert data[key] in record
    # The reward file loads by path as EasyR1 loads it (spec_from_file_location) and scores.
    path, name = s3["worker"]["reward"]["reward_function"].rsplit(":", 1)
    spec = importlib.util.spec_from_file_location("custom_reward_fn", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn = getattr(module, name)
    good = "<think> sure </think> Action: Answer\n<answer> B </answer><|im_end|>"
    scores = fn(
        [
            {"response": good, "response_length": 20, "ground_truth": "B"},
            {"response": good, "response_length": 20, "ground_truth": "C"},
            {"response": good.replace("B", "7"), "response_length": 20, "ground_truth": "7"},
        ],
        **s3["worker"]["reward"]["reward_function_kwargs"],
    )
    assert [s["overall"] for s in scores] == [2.0, 0.0, 2.0]


@pytest.mark.skipif(not Path(LF_PYTHON).is_file(), reason="LLaMA-Factory venv not built (.venv-lf)")
def test_llamafactory_parses_the_sft_configs(
    run_dirs: dict[str, Path], tiny_model: Path, tmp_path: Path
) -> None:
    written = write_handoff(
        run_dirs["cold"],
        tmp_path / "configs",
        model=str(tiny_model),
        reflective_run_dir=run_dirs["reflective"],
    )
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "DISABLE_VERSION_CHECK": "1",
    }
    for stage in ("stage1", "stage2"):
        done = subprocess.run(
            [LF_PYTHON, "-c", LF_CHECK, written[stage]],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        parsed = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"\nLLaMA-Factory parsed {stage}: {parsed}")
        assert parsed["stage"] == "sft" and parsed["finetuning_type"] == "full"
        assert parsed["freeze_vision_tower"] is True and parsed["template"] == "qwen2_vl"
        assert parsed["lr"] == 1e-5 and parsed["epochs"] == 3.0 and parsed["warmup_ratio"] == 0.1
        assert "cosine" in parsed["scheduler"].lower() and parsed["bf16"] is True
