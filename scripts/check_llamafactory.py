"""Loads a run directory's SFT subsets through LLaMA-Factory's own data pipeline.

Run it in an environment with `llamafactory` installed (requirements-llamafactory.txt; scripts/
test.sh builds .venv-lf):
  python scripts/check_llamafactory.py DIR
Every subset registered in DIR/dataset_info.json goes through LLaMA-Factory's `get_dataset`:
its loader (file or directory of shards, images resolved against DIR), the sharegpt converter
(role alternation; a broken record is silently turned into an empty one and later dropped),
the qwen2_vl template and its multimodal plugin (which raises if the `<image>` placeholders do
not match the images, and expands each into image tokens), with a tiny Qwen2-VL processor built
offline. Per subset it then checks what training would need: every record became exactly one
example, every example carries as many vision blocks as images, and its `<|image_pad|>` count
equals what the plugin's own `get_mm_inputs` (the collator's path) yields from the images, i.e.
the model's "image features and image tokens do not match" check would pass. Prints one line per
subset and exits 1 if any subset fails.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import json
import os
import sys
import tempfile
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tiny_qwen2vl import build_tiny_qwen2vl  # noqa: E402

# LLaMA-Factory reads these file types (extras/constants.py FILEEXT2TYPE, json and jsonl alike).
DATA_SUFFIXES = {".json", ".jsonl", ".parquet", ".arrow", ".csv", ".txt"}


def _cpu_torch_workarounds() -> None:
    """Let llamafactory import beside the CPU-only torch of these machines.

    With `torch==2.13.0+cpu` installed first, pip brings torchvision and torchaudio builds made
    for CUDA torch: torchvision's C ops do not load, and its `_meta_registrations` then raises
    `RuntimeError: operator torchvision::nms does not exist` at import; torchaudio's library
    fails with `OSError: libc10_cuda.so`. Qwen2-VL preprocessing only needs torchvision's
    pure-torch transforms, and llamafactory imports torchaudio only for audio, which our data
    never has. Nothing is changed when the real imports work (a CUDA torch environment).
    """
    import torch

    register_fake = torch.library.register_fake

    def tolerant(op: Any, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        if not (isinstance(op, str) and op.startswith("torchvision::")):
            return register_fake(op, *args, **kwargs)
        try:
            decorator = register_fake(op, *args, **kwargs)
        except RuntimeError:
            return lambda fn: fn

        def apply(fn: Any) -> Any:
            try:
                return decorator(fn)
            except RuntimeError:  # the operator is missing: its C library did not load
                return fn

        return apply

    torch.library.register_fake = tolerant
    try:
        import torchvision  # noqa: F401
    finally:
        torch.library.register_fake = register_fake
    try:
        import torchaudio  # noqa: F401
    except OSError:
        for name in [n for n in sys.modules if n == "torchaudio" or n.startswith("torchaudio.")]:
            del sys.modules[name]
        stub = types.ModuleType("torchaudio")
        stub.__spec__ = importlib.machinery.ModuleSpec("torchaudio", None)
        stub.__version__ = "0+unavailable"
        sys.modules["torchaudio"] = stub


def data_files(root: Path, file_name: str) -> list[Path]:
    """The files LLaMA-Factory reads for `file_name`: the file, or every entry of the folder.

    A folder is listed without recursion and every entry must be a data file of one type.
    """
    path = root / file_name
    return sorted(path.iterdir()) if path.is_dir() else [path]


def read_records(files: list[Path]) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for path in files:
        text = path.read_text()
        if path.suffix == ".json" and text.lstrip().startswith("["):
            records.extend(json.loads(text))
        else:
            records.extend(json.loads(line) for line in text.splitlines() if line.strip())
    return records


@dataclass
class SubsetResult:
    records: int = 0
    images: int = 0
    examples: int = 0
    image_tokens: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_subset(
    root: Path, name: str, entry: dict[str, Any], model_dir: Path, work: Path, cutoff_len: int
) -> SubsetResult:
    """Run one subset through get_dataset and compare what came out with what went in."""
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_tokenizer

    result = SubsetResult()
    files = data_files(root, entry["file_name"])
    bad = [p.name for p in files if not p.is_file() or p.suffix not in DATA_SUFFIXES]
    if bad:
        result.problems.append(f"not data files in {entry['file_name']}: {bad[:5]}")
        return result
    records = read_records(files)
    images_column = entry.get("columns", {}).get("images")
    result.records = len(records)
    result.images = sum(len(r.get(images_column) or []) for r in records) if images_column else 0

    model_args, data_args, training_args, _, _ = get_train_args(
        {
            "model_name_or_path": str(model_dir),
            "stage": "sft",
            "do_train": True,
            "finetuning_type": "full",
            "dataset_dir": str(root),
            "dataset": name,
            "template": "qwen2_vl",
            "cutoff_len": cutoff_len,
            "overwrite_cache": True,
            "output_dir": str(work / "out"),
            "report_to": "none",
            "image_max_pixels": 112 * 112,
        }
    )
    tokenizer_module = load_tokenizer(model_args)
    tokenizer = tokenizer_module["tokenizer"]
    processor = tokenizer_module["processor"]
    template = get_template_and_fix_tokenizer(tokenizer, data_args)
    module = get_dataset(template, model_args, data_args, training_args, "sft", **tokenizer_module)
    dataset = module["train_dataset"]
    result.examples = len(dataset)
    if result.examples != result.records:
        result.problems.append(
            f"{result.records - result.examples} record(s) dropped (invalid role order or count)"
        )
        return result

    pad_id = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    start_id = tokenizer.convert_tokens_to_ids("<|vision_start|>")
    merge = processor.image_processor.merge_size**2
    for index, row in enumerate(dataset):
        images = row["images"] or []
        pads, blocks = row["input_ids"].count(pad_id), row["input_ids"].count(start_id)
        result.image_tokens += pads
        expected = 0
        if images:
            mm = template.mm_plugin.get_mm_inputs(
                images, [], [], [len(images)], [0], [0], [row["input_ids"]], processor
            )
            expected = int(sum(int(g.prod()) // merge for g in mm["image_grid_thw"]))
        if blocks != len(images) or pads != expected:
            result.problems.append(
                f"record {index}: {len(images)} images but {blocks} vision blocks and "
                f"{pads} image tokens (the images give {expected}; cut by cutoff_len?)"
            )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("run_dir", type=Path)
    parser.add_argument(
        "--cutoff-len", type=int, default=131072, help="LLaMA-Factory cutoff_len (tokens)"
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("LLAMAFACTORY_VERBOSITY", "WARN")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    root = args.run_dir.resolve()
    info = json.loads((root / "dataset_info.json").read_text())
    if not info:
        print(f"{root}/dataset_info.json registers no subset", file=sys.stderr)
        return 1
    _cpu_torch_workarounds()
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_tiny_qwen2vl(Path(tmp) / "tiny-qwen2vl")
        for name in sorted(info):
            try:
                result = check_subset(root, name, info[name], model_dir, Path(tmp), args.cutoff_len)
            except Exception as exc:  # noqa: BLE001 - any loader failure fails this subset
                print(f"FAIL {name}: {type(exc).__name__}: {str(exc)[:2000]}")
                failures += 1
                continue
            failures += not result.ok
            print(
                f"{'ok  ' if result.ok else 'FAIL'} {name}: {result.records} records -> "
                f"{result.examples} examples, {result.images} images, "
                f"{result.image_tokens} image tokens"
            )
            for problem in result.problems[:20]:
                print(f"     {problem}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
