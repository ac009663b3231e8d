"""Loads a run directory's SFT subsets through LLaMA-Factory's own data pipeline.

Run it in an environment with `llamafactory` installed (see scripts/check_llamafactory.sh):
  python scripts/check_llamafactory.py DIR
Every subset registered in DIR/dataset_info.json goes through LLaMA-Factory's loader, sharegpt
converter, the qwen2_vl template and its multimodal plugin (which checks `<image>` placeholders
against the images and expands them into image tokens), with a tiny Qwen2-VL processor built
offline. Exits non-zero, naming the subset, if any record is dropped or fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tiny_qwen2vl import build_tiny_qwen2vl  # noqa: E402


def count_records(root: Path, file_name: str) -> int:
    path = root / file_name
    files = sorted(path.rglob("*.jsonl")) if path.is_dir() else [path]
    return sum(1 for f in files for line in f.read_text().splitlines() if line.strip())


def check_subset(root: Path, name: str, model_dir: Path, work: Path) -> tuple[int, int, int]:
    """(records in the file, examples LLaMA-Factory produced, image tokens seen)."""
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_tokenizer

    model_args, data_args, training_args, _, _ = get_train_args(
        {
            "model_name_or_path": str(model_dir),
            "stage": "sft",
            "do_train": True,
            "finetuning_type": "full",
            "dataset_dir": str(root),
            "dataset": name,
            "template": "qwen2_vl",
            "cutoff_len": 131072,
            "overwrite_cache": True,
            "output_dir": str(work / "out"),
            "report_to": "none",
            "image_max_pixels": 112 * 112,
        }
    )
    tokenizer_module = load_tokenizer(model_args)
    tokenizer = tokenizer_module["tokenizer"]
    template = get_template_and_fix_tokenizer(tokenizer, data_args)
    module = get_dataset(template, model_args, data_args, training_args, "sft", **tokenizer_module)
    dataset = module["train_dataset"]
    pad_id = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    image_tokens = sum(row.count(pad_id) for row in dataset["input_ids"])
    info = json.loads((root / "dataset_info.json").read_text())
    return count_records(root, info[name]["file_name"]), len(dataset), image_tokens


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args()
    root = args.run_dir.resolve()
    names = sorted(json.loads((root / "dataset_info.json").read_text()))
    if not names:
        print(f"{root}/dataset_info.json registers no subset", file=sys.stderr)
        return 1
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_tiny_qwen2vl(Path(tmp) / "tiny-qwen2vl")
        for name in names:
            try:
                records, examples, image_tokens = check_subset(root, name, model_dir, Path(tmp))
            except Exception as exc:  # noqa: BLE001 - report any loader failure per subset
                print(f"FAIL {name}: {type(exc).__name__}: {exc}")
                failures += 1
                continue
            ok = records == examples and image_tokens > 0
            failures += not ok
            print(
                f"{'ok  ' if ok else 'FAIL'} {name}: {records} records -> {examples} examples, "
                f"{image_tokens} image tokens"
            )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
