"""Shared pieces of the SFT and GRPO loops: model loading, freezing, precision, checkpoints."""

from __future__ import annotations

import json
import logging
import os
import random
import re
import shutil
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
STATE_FILE = "trainer_state.pt"


def require_torch() -> None:
    """Raises ModuleNotFoundError with what to do when torch or transformers is missing (the
    data engine's own venv has neither; `.venv-vllm` has both)."""
    import importlib.util

    for name in ("torch", "transformers"):
        if importlib.util.find_spec(name) is None:
            raise ModuleNotFoundError(
                f"training needs torch and transformers ({name} is not installed): run it with "
                ".venv-vllm/bin/python (scripts/setup_vllm.sh builds it), or install torch and "
                "transformers into this environment",
                name=name,
            )


def device() -> Any:
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def use_bf16(setting: str | bool) -> bool:
    """bf16 autocast: "auto" = on a GPU that supports it; True/False force it."""
    import torch

    if isinstance(setting, bool):
        return setting
    value = str(setting).lower()
    if value == "auto":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return value in ("1", "true", "yes", "on")


def autocast(enabled: bool) -> Any:
    import torch

    if not enabled:
        return nullcontext()
    return torch.autocast(device_type=device().type, dtype=torch.bfloat16)


def load_model(path: str, pure_bf16: bool = False, gradient_checkpointing: bool = False) -> Any:
    """The Qwen2-VL / Qwen2.5-VL model in fp32 master weights (bf16 with `pure_bf16`, which
    halves memory on one GPU at some precision cost), on the training device."""
    import torch
    from transformers import AutoModelForImageTextToText
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    dtype = torch.bfloat16 if pure_bf16 else torch.float32
    model = AutoModelForImageTextToText.from_pretrained(path, dtype=dtype)
    if gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.config.use_cache = False
    return model.to(device())


def check_model_path(path: str) -> None:
    """A local model path that is not there is a FileNotFoundError naming it (from_pretrained
    would report a malformed Hub repo id instead). `ORG/NAME` is left to the Hub."""
    if Path(path).expanduser().exists():
        return
    local = path.startswith(("/", ".", "~")) or path.count("/") != 1 or os.sep != "/"
    if local:
        raise FileNotFoundError(f"model {path}: no such folder (--model PATH)")


def source_dtype(path: str) -> Any:
    """The dtype the model at `path` was saved in (its config's dtype; float32 if unset)."""
    import torch
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(path)
    name = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None) or "float32"
    return name if isinstance(name, torch.dtype) else getattr(torch, str(name), torch.float32)


def save_final(model: Any, processor: Any, folder: Path, dtype: Any) -> Path:
    """The trained model to serve, in the start model's own dtype (training keeps fp32 master
    weights; a bf16 model comes out as bf16, half the disk and what vLLM loads)."""
    state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    model.save_pretrained(folder, state_dict=state)
    processor.save_pretrained(folder)
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    name = str(dtype).removeprefix("torch.")
    for key in ("dtype", "torch_dtype"):
        if key in config:
            config[key] = name
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return folder


def load_processor(path: str) -> Any:
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(path)


def visual_module(model: Any) -> Any:
    """The vision tower (its `merger` is the projector), across transformers layouts."""
    inner = getattr(model, "model", model)
    for holder in (inner, model):
        if hasattr(holder, "visual"):
            return holder.visual
    raise AttributeError(f"{type(model).__name__} has no vision tower `visual`")


def freeze(model: Any, vision: bool, projector: bool) -> dict[str, int]:
    """Freeze the vision tower (without its merger) and/or the merger (the projector).
    Returns trainable / total parameter counts."""
    visual = visual_module(model)
    merger = getattr(visual, "merger", None)
    merger_ids = {id(p) for p in merger.parameters()} if merger is not None else set()
    for p in visual.parameters():
        is_projector = id(p) in merger_ids
        if (is_projector and projector) or (not is_projector and vision):
            p.requires_grad_(False)
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"trainable_params": trainable, "total_params": total}


def to_device(batch: dict[str, Any], float_dtype: Any = None) -> dict[str, Any]:
    import torch

    dev = device()
    out = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            value = value.to(dev)
            if float_dtype is not None and value.is_floating_point():
                value = value.to(float_dtype)
            out[key] = value
    return out


def model_dtype(model: Any) -> Any:
    return next(model.parameters()).dtype


# --- RNG and checkpoints -----------------------------------------------------------------------


def seed_all(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    import numpy as np
    import torch

    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import numpy as np
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoints(output: str | Path) -> list[Path]:
    """checkpoint-N directories holding a complete trainer state, oldest first."""
    out = Path(output)
    if not out.is_dir():
        return []
    found = [
        (int(m.group(1)), p)
        for p in out.iterdir()
        if (m := CHECKPOINT_RE.match(p.name)) and (p / STATE_FILE).is_file()
    ]
    return [p for _, p in sorted(found)]


def save_checkpoint(
    output: str | Path,
    step: int,
    model: Any,
    processor: Any,
    state: dict[str, Any],
    keep: int = 2,
) -> Path:
    """Model + processor (loadable with from_pretrained, so also an inference checkpoint) and
    trainer state (optimizer, scheduler, counters, RNG). Written to a temp dir then renamed, so
    a crash never leaves a half checkpoint that resume would pick."""
    import torch

    out = Path(output)
    final = out / f"checkpoint-{step}"
    tmp = out / f".tmp-checkpoint-{step}"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    processor.save_pretrained(tmp)
    torch.save(state, tmp / STATE_FILE)
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    if keep > 0:
        for old in checkpoints(out)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def load_state(checkpoint: Path) -> dict[str, Any]:
    import torch

    return torch.load(checkpoint / STATE_FILE, map_location="cpu", weights_only=False)


def prepare_output(output: str | Path, resume: bool, overwrite: bool) -> Path | None:
    """Create the output dir; return the checkpoint to resume from (or None).

    Raises FileExistsError if the dir already holds a run and neither resume nor overwrite is
    set. `overwrite` removes only this trainer's files (checkpoints, logs, final model)."""
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    existing = checkpoints(out)
    ours = existing + [p for p in (out / "final", out / "train_log.jsonl") if p.exists()]
    if resume:
        if not existing:
            log.warning("resume: no checkpoint in %s, starting from scratch", out)
        return existing[-1] if existing else None
    if ours and not overwrite:
        raise FileExistsError(
            f"{out} already holds a training run; pass resume to continue or overwrite to restart"
        )
    for p in ours:
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    return None


class Progress:
    """Log lines to stdout and `train_log.jsonl` (one JSON object per logged step)."""

    def __init__(self, output: str | Path, stage: str, quiet: bool = False) -> None:
        self.path = Path(output) / "train_log.jsonl"
        self.stage = stage
        self.quiet = quiet
        self.started = time.perf_counter()

    def write(self, record: dict[str, Any]) -> None:
        record = {"stage": self.stage, **record}
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        if not self.quiet:
            text = "  ".join(
                f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                for k, v in record.items()
                if k != "stage"
            )
            print(f"[{self.stage}] {text}", flush=True)


def read_log(output: str | Path) -> list[dict[str, Any]]:
    path = Path(output) / "train_log.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
