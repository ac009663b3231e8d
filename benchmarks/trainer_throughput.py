"""Trainer throughput on the tiny random Qwen2-VL on CPU: SFT tokens/s and GRPO rollouts/s.

Usage: .venv-vllm/bin/python benchmarks/trainer_throughput.py [--sft-steps 10] [--grpo-steps 4]
Builds the tiny model (scripts/tiny_qwen2vl.py) and a cold-start run (4 samples) in a temp dir.
Numbers are upper bounds of nothing in particular: a 0.6 M-parameter model on a shared CPU;
they track regressions of the loop (tokenisation, collation, generation, env), not model speed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drawreason.trainer.common import read_log  # noqa: E402
from drawreason.trainer.grpo import GRPOConfig, train_grpo  # noqa: E402
from drawreason.trainer.sft import SFTConfig, train_sft  # noqa: E402

from tests_vllm.trainer_data import write_prompts, write_toy_rl, write_warmup_sft  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sft-steps", type=int, default=10)
    parser.add_argument("--grpo-steps", type=int, default=4)
    parser.add_argument("--group-size", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = work / "tiny"
        subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "tiny_qwen2vl.py"), str(model), "--with-model"],
            check=True,
            capture_output=True,
        )
        run = work / "run"
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "run_pipeline.py"),
                "--stage",
                "cold_start_data",
                "--output",
                str(run),
                "--num-samples",
                "4",
            ],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        sft_out = work / "sft"
        started = time.perf_counter()
        train_sft(
            SFTConfig(
                data=str(run),
                model=str(model),
                output=str(sft_out),
                max_steps=args.sft_steps,
                lr=1e-4,
                batch_size=2,
                grad_accum=1,
                save_steps=10**9,
                quiet=True,
            )
        )
        sft_s = time.perf_counter() - started
        rows = [r for r in read_log(sft_out) if "tokens_per_s" in r]
        steady = rows[1:] or rows
        tps = sum(r["tokens_per_s"] for r in steady) / len(steady)

        toy = work / "toy"
        prompts = write_prompts(toy / "prompts")
        write_toy_rl(toy)
        shard = write_warmup_sft(toy, prompts)
        warm = train_sft(
            SFTConfig(
                data=str(shard),
                model=str(model),
                output=str(toy / "warm"),
                max_steps=30,
                lr=3e-3,
                batch_size=4,
                grad_accum=1,
                scheduler="constant",
                warmup_ratio=0,
                quiet=True,
            )
        )
        result = train_grpo(
            GRPOConfig(
                data=str(toy),
                model=warm["checkpoint"],
                output=str(toy / "grpo"),
                prompts=str(prompts),
                steps=args.grpo_steps,
                group_size=args.group_size,
                questions_per_step=1,
                lr=5e-4,
                max_new_tokens=32,
                quiet=True,
            )
        )
        history = result["history"][1:] or result["history"]
        rps = sum(h["rollouts_per_s"] for h in history) / len(history)
        step_s = sum(h["step_s"] for h in history) / len(history)
        # Default prompts (the pipeline's ~800-token system prompt) on the pipeline's RL shard.
        rl = work / "rl"
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "run_pipeline.py"),
                "--stage",
                "rl_data",
                "--output",
                str(rl),
                "--num-samples",
                "4",
            ],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        real = train_grpo(
            GRPOConfig(
                data=str(rl),
                model=str(model),
                output=str(work / "grpo_rl"),
                steps=args.grpo_steps,
                group_size=args.group_size,
                questions_per_step=1,
                max_new_tokens=64,
                max_calls=3,
                quiet=True,
            )
        )
        real_hist = real["history"][1:] or real["history"]
        real_rps = sum(h["rollouts_per_s"] for h in real_hist) / len(real_hist)
    print(
        f"SFT  tiny Qwen2-VL, cold-start shard, batch 2: {tps:.0f} tokens/s "
        f"({args.sft_steps} steps in {sft_s:.1f} s incl. checkpoint)"
    )
    print(
        f"GRPO tiny Qwen2-VL, toy shard, short prompts, G={args.group_size}: {rps:.1f} rollouts/s "
        f"(generation), {step_s:.2f} s per step incl. update"
    )
    print(
        f"GRPO tiny Qwen2-VL, pipeline RL shard, default prompts, G={args.group_size}, "
        "<=64 new tokens "
        f"x <=3 turns: {real_rps:.1f} rollouts/s (generation)"
    )


if __name__ == "__main__":
    main()
