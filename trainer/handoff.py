"""Hand-off configs for the frameworks used at scale, pointing at a run directory's data.

- LLaMA-Factory SFT YAMLs for stage 1 (cold start) and stage 2 (reflective rejection
  sampling): `llamafactory-cli train stage1_cold_start_sft.yaml`. The datasets are the entries
  of the run's dataset_info.json (`dataset_dir` is the run directory, so relative image paths
  resolve). Published defaults: full fine-tune, vision tower and projector frozen, lr 1e-5,
  3 epochs, cosine, warmup 0.1, bf16.
- An EasyR1 config for stage 3 (GRPO):
  `python3 -m verl.trainer.main config=stage3_grpo_easyr1.yaml`,
  with train_files = the run's rl/*.parquet (images embedded) or rl/*.jsonl, the RL keys of our
  shards, 8 rollouts per prompt, no KL, lr 1e-6, and our reward function (trainer/easyr1_reward.py,
  an adapter around trainer/reward.py:compute_score, the same scoring as the data filters).

Multi-turn RL with the drawing environment inside EasyR1 needs a multi-turn rollout worker (as
in the ViLaSR fork); stock EasyR1 rolls out a single turn. `python -m drawreason.trainer grpo`
runs the multi-turn loop here; at scale, a run with verl rows (`rl_format: verl`,
`verl/*.parquet`) also gets `stage3_grpo_verl.sh` and `stage3_grpo_trl.sh`
(trainer/handoff_rl.py), the multi-turn commands of verl and TRL with the version each was
tested against.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from drawreason.schemas import layout
from drawreason.schemas.rl import RLKeys, run_rl_keys
from drawreason.schemas.sharegpt import CUTOFF_LEN, IMAGE_MAX_PIXELS
from drawreason.trainer.data import rl_run_config
from drawreason.trainer.handoff_rl import trl_command, verl_command

TRAINER_DIR = Path(__file__).resolve().parent
REWARD_FILE = TRAINER_DIR / "easyr1_reward.py"

# The keys we write into each EasyR1 section, as defined by EasyR1's config dataclasses
# (verl/trainer/config.py DataConfig / AlgorithmConfig / TrainerConfig, verl/workers/config.py
# WorkerConfig with actor (ActorConfig: model ModelConfig, optim OptimConfig, fsdp, offload),
# rollout (RolloutConfig), ref, reward (verl/workers/reward/config.py RewardConfig)) and
# used in EasyR1's examples/config.yaml. `check_easyr1_keys` rejects anything else.
EASYR1_KEYS: dict[str, set[str]] = {
    "data": {
        "train_files",
        "val_files",
        "prompt_key",
        "answer_key",
        "image_key",
        "image_dir",
        "max_prompt_length",
        "max_response_length",
        "rollout_batch_size",
        "val_batch_size",
        "format_prompt",
        "shuffle",
        "seed",
        "max_pixels",
        "min_pixels",
        "filter_overlong_prompts",
    },
    "algorithm": {"adv_estimator", "disable_kl", "use_kl_loss", "kl_penalty", "kl_coef"},
    "worker.actor": {
        "global_batch_size",
        "micro_batch_size_per_device_for_update",
        "micro_batch_size_per_device_for_experience",
        "max_grad_norm",
        "padding_free",
        "ulysses_sequence_parallel_size",
        "model",
        "optim",
        "fsdp",
        "offload",
    },
    "worker.actor.model": {
        "model_path",
        "enable_gradient_checkpointing",
        "trust_remote_code",
        "freeze_vision_tower",
    },
    "worker.actor.optim": {"lr", "weight_decay", "strategy", "lr_warmup_ratio"},
    "worker.actor.fsdp": {"enable_full_shard", "enable_cpu_offload", "enable_rank0_init"},
    "worker.actor.offload": {"offload_params", "offload_optimizer"},
    "worker.rollout": {
        "n",
        "temperature",
        "top_p",
        "gpu_memory_utilization",
        "enforce_eager",
        "enable_chunked_prefill",
        "tensor_parallel_size",
        "limit_images",
        "val_override_config",
    },
    "worker.reward": {
        "reward_type",
        "reward_function",
        "reward_function_kwargs",
        "skip_special_tokens",
    },
    "trainer": {
        "total_epochs",
        "logger",
        "project_name",
        "experiment_name",
        "n_gpus_per_node",
        "nnodes",
        "val_freq",
        "val_before_train",
        "val_only",
        "val_generations_to_log",
        "save_freq",
        "save_limit",
        "save_checkpoint_path",
        "load_checkpoint_path",
    },
}
EASYR1_NESTED = {
    "worker.actor.model",
    "worker.actor.optim",
    "worker.actor.fsdp",
    "worker.actor.offload",
}


def _datasets(run_dir: Path, prefix: str) -> list[str]:
    info_path = run_dir / layout.DATASET_INFO
    if not info_path.is_file():
        return []
    info = json.loads(info_path.read_text(encoding="utf-8"))
    return [name for name, entry in info.items() if entry.get("file_name", "").startswith(prefix)]


def _columns(shard: Path) -> list[str]:
    """The column names of an RL shard (Parquet schema, or the first JSONL record's keys)."""
    if shard.suffix == layout.PARQUET:
        import pyarrow.parquet as pq

        return list(pq.read_schema(shard).names)
    with shard.open() as handle:
        first = handle.readline()
    return list(json.loads(first)) if first.strip() else []


def _rl_files(rl_dir: Path, suffix: str) -> list[Path]:
    """Every file of rl/ with `suffix`: one per subset, or its parts (schemas.layout)."""
    listing = [str(p) for p in (*rl_dir.glob("*" + suffix), *rl_dir.glob("*/*" + suffix))]
    found = layout.find_subsets(str(rl_dir), listing, suffix)
    return [Path(f) for subset in found for f in subset.files]


def llamafactory_sft(
    model: str,
    dataset_dir: str,
    datasets: list[str],
    output_dir: str,
    **overrides: Any,
) -> dict[str, Any]:
    """One LLaMA-Factory SFT config with the published defaults."""
    config: dict[str, Any] = {
        # model
        "model_name_or_path": model,
        "image_max_pixels": IMAGE_MAX_PIXELS,
        "trust_remote_code": True,
        # method
        "stage": "sft",
        "do_train": True,
        "finetuning_type": "full",
        "freeze_vision_tower": True,
        "freeze_multi_modal_projector": True,
        "freeze_language_model": False,
        # dataset
        "dataset_dir": dataset_dir,
        "dataset": ",".join(datasets),
        "template": "qwen2_vl",
        "cutoff_len": CUTOFF_LEN,
        "overwrite_cache": True,
        "preprocessing_num_workers": 16,
        # output
        "output_dir": output_dir,
        "logging_steps": 10,
        "save_steps": 500,
        "plot_loss": True,
        "overwrite_output_dir": True,
        "report_to": "none",
        # train
        "per_device_train_batch_size": 1,
        "gradient_accumulation_steps": 8,
        "learning_rate": 1.0e-5,
        "num_train_epochs": 3.0,
        "lr_scheduler_type": "cosine",
        "warmup_ratio": 0.1,
        "bf16": True,
        "ddp_timeout": 180000000,
    }
    config.update(overrides)
    return config


DEFAULT_KEYS = RLKeys()


def easyr1_grpo(
    model: str, train_files: str, val_files: str, output_dir: str, keys: RLKeys = DEFAULT_KEYS
) -> dict[str, Any]:
    """The EasyR1 GRPO config with the published defaults (8 rollouts, no KL, lr 1e-6), its
    data keys the RL run's column names `keys` (schemas.rl.run_rl_keys). Raises ValueError
    when the run wrote no `problem` column (EasyR1's prompt: one `<image>` per image)."""
    if not keys.problem:
        raise ValueError(
            "EasyR1 reads the prompt with its <image> placeholders from the `problem` column, "
            "which this RL run did not write (its rl_format/keys leave it out)"
        )
    return {
        "data": {
            "train_files": train_files,
            "val_files": val_files,
            "prompt_key": keys.problem,  # "<image>" placeholders + question + options
            # the answer, with a generated question's oracle facts (the reward's grounding)
            "answer_key": keys.reward_truth or keys.answer,
            "image_key": keys.images or keys.image_path,
            "max_prompt_length": 4096,
            "max_response_length": 8192,
            "rollout_batch_size": 512,
            "shuffle": True,
            "seed": 1,
            "max_pixels": 4194304,
            "min_pixels": 262144,
            "filter_overlong_prompts": True,
        },
        "algorithm": {
            "adv_estimator": "grpo",
            "disable_kl": True,
            "use_kl_loss": False,
            "kl_coef": 0.0,
        },
        "worker": {
            "actor": {
                "global_batch_size": 128,
                "max_grad_norm": 1.0,
                "model": {
                    "model_path": model,
                    "enable_gradient_checkpointing": True,
                    "freeze_vision_tower": True,
                },
                "optim": {"lr": 1.0e-6, "weight_decay": 1.0e-2, "strategy": "adamw"},
            },
            "rollout": {"n": 8, "temperature": 1.0, "top_p": 1.0, "limit_images": 42},
            "reward": {
                "reward_type": "batch",
                "reward_function": f"{REWARD_FILE}:compute_score",
                # grounding_weight > 0: a dense term for grounded drawing (docs/reward.md)
                "reward_function_kwargs": {"variant": "acc_gated", "grounding_weight": 0.0},
                "skip_special_tokens": False,
            },
        },
        "trainer": {
            "total_epochs": 1,
            "project_name": "drawreason",
            "experiment_name": "stage3_grpo",
            "logger": ["console"],
            "save_checkpoint_path": output_dir,
        },
    }


def check_easyr1_keys(config: dict[str, Any]) -> list[str]:
    """Every key of `config` that EasyR1's config dataclasses do not define ([] = all good)."""
    bad = []

    def walk(node: dict[str, Any], path: str) -> None:
        allowed = EASYR1_KEYS.get(path)
        for key, value in node.items():
            full = f"{path}.{key}" if path else key
            if path == "" and key == "worker":
                if not isinstance(value, dict):
                    bad.append(full)
                    continue
                for sub, subvalue in value.items():
                    if f"worker.{sub}" not in EASYR1_KEYS:
                        bad.append(f"worker.{sub}")
                    else:
                        walk(subvalue, f"worker.{sub}")
                continue
            if path == "":
                if key not in EASYR1_KEYS:
                    bad.append(full)
                else:
                    walk(value, key)
                continue
            if allowed is None or key not in allowed:
                bad.append(full)
            elif full in EASYR1_NESTED:
                walk(value, full)

    walk(config, "")
    return bad


def write_handoff(
    run_dir: str | Path,
    out_dir: str | Path,
    model: str = "Qwen/Qwen2.5-VL-7B-Instruct",
    reflective_run_dir: str | Path | None = None,
    saves_dir: str | Path | None = None,
) -> dict[str, str]:
    """Write stage1/stage2 LLaMA-Factory YAMLs, the stage3 EasyR1 YAML and, for verl rows, the
    stage3 verl and TRL scripts; returns their paths.

    `run_dir` holds the cold-start (and usually RL) data; `reflective_run_dir` the reflective
    SFT data if it is another run directory. Stage 2 starts from stage 1's output, stage 3 from
    stage 2's."""
    run = Path(run_dir).resolve()
    reflective_run = Path(reflective_run_dir).resolve() if reflective_run_dir else run
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    saves = Path(saves_dir).resolve() if saves_dir else out / "saves"
    stage1_out, stage2_out, stage3_out = (
        saves / s for s in ("stage1_sft", "stage2_sft", "stage3_grpo")
    )
    written: dict[str, str] = {}

    cold = _datasets(run, layout.sft_dir("cold_start"))
    if cold:
        path = out / "stage1_cold_start_sft.yaml"
        path.write_text(
            yaml.safe_dump(
                llamafactory_sft(model, str(run), cold, str(stage1_out)), sort_keys=False
            )
        )
        written["stage1"] = str(path)
    reflective = _datasets(reflective_run, layout.sft_dir("reflective"))
    if reflective:
        path = out / "stage2_reflective_sft.yaml"
        start = str(stage1_out) if cold else model
        config = llamafactory_sft(start, str(reflective_run), reflective, str(stage2_out))
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        written["stage2"] = str(path)
    rl_dir = run / layout.RL
    shards = _rl_files(rl_dir, layout.PARQUET) or _rl_files(rl_dir, layout.JSONL)
    if shards:
        # EasyR1 reads one file or a directory of parquet files (datasets' loader); one subset
        # per file, so a single file is passed when there is one, else the rl directory.
        train = str(shards[0]) if len(shards) == 1 else str(rl_dir)
        start = str(stage2_out) if reflective else (str(stage1_out) if cold else model)
        keys = run_rl_keys(rl_run_config(run))
        config = easyr1_grpo(start, train, train, str(stage3_out), keys)
        if config["data"]["answer_key"] not in _columns(shards[0]):  # runs before reward_truth
            config["data"]["answer_key"] = keys.answer
        if shards[0].suffix == ".jsonl":  # image paths are relative to the JSONL's folder
            config["data"]["image_dir"] = str(rl_dir)
        bad = check_easyr1_keys(config)
        if bad:
            raise AssertionError(f"EasyR1 config has keys EasyR1 does not define: {bad}")
        path = out / "stage3_grpo_easyr1.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        written["stage3"] = str(path)
    verl_rows = sorted((run / "verl").glob("*.parquet"))
    if verl_rows:  # rl_format: verl rows serve both multi-turn trainers
        start = str(stage2_out) if reflective else (str(stage1_out) if cold else model)
        files = [str(f) for f in verl_rows]
        for name, command in (("verl", verl_command), ("trl", trl_command)):
            path = out / f"stage3_grpo_{name}.sh"
            path.write_text(command(start, files, str(saves / f"stage3_grpo_{name}")))
            path.chmod(0o755)
            written[f"stage3_{name}"] = str(path)
    if not written:
        raise FileNotFoundError(f"{run}: no SFT (dataset_info.json) or RL (rl/) data to hand off")
    return written
