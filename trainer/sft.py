"""Multi-turn SFT on our sharegpt shards (stage 1 cold start, stage 2 reflective).

Readable single-device loop: length-grouped batches, loss on assistant tokens only (summed
over the accumulation window and divided by its assistant-token count, so gradient
accumulation equals one big batch), AdamW + cosine schedule with warmup, bf16 autocast on
GPUs that support it, checkpoints that resume exactly (weights, optimizer, scheduler, data
position, RNG). For multi-GPU / DeepSpeed runs, use the LLaMA-Factory hand-off
(`python -m drawreason.trainer handoff`), which reads the same shards.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from drawreason.trainer import common
from drawreason.trainer.data import (
    IGNORE_INDEX,
    Encoder,
    batch_order,
    collate_for,
    encode_sft_sample,
    load_sft_samples,
)

log = logging.getLogger(__name__)

STAGE = "train_sft"


@dataclass
class SFTConfig:
    """Options of `train_sft` (CLI flags are the same names with dashes)."""

    data: str = ""  # run directory (dataset_info.json) or one sharegpt .jsonl
    model: str = ""  # HF model directory (Qwen2-VL / Qwen2.5-VL) or a checkpoint of ours
    output: str = ""  # training output dir (else the stage's --output)
    datasets: tuple[str, ...] = ()  # dataset_info.json entries to use; empty = all
    epochs: float = 3.0
    max_steps: int = 0  # > 0 overrides epochs
    lr: float = 1e-5
    weight_decay: float = 0.0
    warmup_ratio: float = 0.1
    scheduler: str = "cosine"  # cosine | linear | constant
    batch_size: int = 1
    grad_accum: int = 8
    max_grad_norm: float = 1.0
    max_length: int = 8192  # longer samples are skipped (images cannot be cut in half)
    freeze_vision: bool = True
    freeze_projector: bool = True
    bf16: str = "auto"  # autocast: auto (GPU with bf16) | true | false
    pure_bf16: bool = False  # bf16 weights and optimizer states (memory on one GPU)
    gradient_checkpointing: bool = False
    group_by_length: bool = True
    save_steps: int = 0  # 0 = at the end of every epoch and at the end
    save_total_limit: int = 2
    resume: bool = False
    seed: int = 0
    log_every: int = 1
    stop_after_steps: int = 0  # end this run early (a time slot); `resume` continues it
    quiet: bool = False


def _scheduler(name: str, optimizer: Any, warmup: int, total: int) -> Any:
    from transformers import (
        get_constant_schedule_with_warmup,
        get_cosine_schedule_with_warmup,
        get_linear_schedule_with_warmup,
    )

    if name == "cosine":
        return get_cosine_schedule_with_warmup(optimizer, warmup, total)
    if name == "linear":
        return get_linear_schedule_with_warmup(optimizer, warmup, total)
    if name == "constant":
        return get_constant_schedule_with_warmup(optimizer, warmup)
    raise ValueError(f"unknown scheduler {name!r}; known: cosine, linear, constant")


def token_loss_sum(model: Any, batch: dict[str, Any]) -> tuple[Any, int]:
    """Sum of next-token cross entropy over label positions, and their count."""
    import torch.nn.functional as F

    labels = batch.pop("labels")
    logits = model(**batch, use_cache=False).logits
    shift_logits = logits[:, :-1].float()
    shift_labels = labels[:, 1:]
    loss = F.cross_entropy(
        shift_logits.reshape(-1, shift_logits.size(-1)),
        shift_labels.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="sum",
    )
    return loss, int((shift_labels != IGNORE_INDEX).sum())


def train_sft(config: SFTConfig, overwrite: bool = False) -> dict[str, Any]:
    """Run (or resume) SFT; returns a summary dict with the logged losses."""
    import torch

    if not config.data or not config.model or not config.output:
        raise ValueError("train_sft needs data, model and output")
    common.check_model_path(config.model)
    output = Path(config.output)
    resume_from = common.prepare_output(output, config.resume, overwrite)
    common.seed_all(config.seed)
    processor = common.load_processor(config.model)
    encoder = Encoder(processor)

    samples = load_sft_samples(config.data, config.datasets)
    features, skipped = [], 0
    for sample in samples:
        f = encode_sft_sample(encoder, sample)
        if len(f["input_ids"]) > config.max_length:
            skipped += 1
            continue
        f.pop("text")
        features.append(f)
    if not features:
        raise ValueError(f"{config.data}: no sample fits max_length {config.max_length}")
    if skipped:
        log.warning("skipped %d sample(s) longer than max_length %d", skipped, config.max_length)
    lengths = [len(f["input_ids"]) for f in features]
    batches_per_epoch = math.ceil(len(features) / config.batch_size)
    steps_per_epoch = max(1, batches_per_epoch // config.grad_accum)
    total_steps = config.max_steps or max(1, math.ceil(config.epochs * steps_per_epoch))

    # Resume loads the checkpoint's weights with from_pretrained (its key mapping).
    model_path = str(resume_from) if resume_from is not None else config.model
    model = common.load_model(model_path, config.pure_bf16, config.gradient_checkpointing)
    counts = common.freeze(model, config.freeze_vision, config.freeze_projector)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = _scheduler(
        config.scheduler, optimizer, int(config.warmup_ratio * total_steps), total_steps
    )
    bf16 = common.use_bf16(config.bf16)
    step, epoch, cursor = 0, 0, 0  # cursor: next batch index within the epoch
    if resume_from is not None:
        state = common.load_state(resume_from)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, epoch, cursor = state["step"], state["epoch"], state["cursor"]
        common.set_rng_state(state["rng"])
        log.info(
            "resumed from %s at step %d (epoch %d, batch %d)", resume_from, step, epoch, cursor
        )

    progress = common.Progress(output, STAGE, config.quiet)
    progress.write(
        {
            "event": "start" if resume_from is None else "resume",
            "step": step,
            "total_steps": total_steps,
            "samples": len(features),
            "skipped_too_long": skipped,
            **counts,
        }
    )
    model.train()
    stopped_at = config.stop_after_steps and step + config.stop_after_steps
    losses: list[float] = []
    window_tokens, started = 0, time.perf_counter()

    def save() -> Path:
        state = {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "step": step,
            "epoch": epoch,
            "cursor": cursor,
            "rng": common.rng_state(),
            "config": asdict(config),
        }
        return common.save_checkpoint(
            output, step, model, processor, state, config.save_total_limit
        )

    float_dtype = common.model_dtype(model)
    while step < total_steps and not (stopped_at and step >= stopped_at):
        order = batch_order(lengths, config.batch_size, config.seed, epoch, config.group_by_length)
        if cursor + config.grad_accum > len(order):  # epoch done (a partial window is dropped)
            epoch, cursor = epoch + 1, 0
            if not config.save_steps:
                save()
            continue
        window = [
            collate_for(encoder, [features[i] for i in order[cursor + k]])
            for k in range(config.grad_accum)
        ]
        n_tokens = sum(int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in window)
        seq_tokens = sum(int(b["attention_mask"].sum()) for b in window)
        total = 0.0
        for batch in window:
            batch = common.to_device(batch, float_dtype)
            with common.autocast(bf16):
                loss_sum, _ = token_loss_sum(model, batch)
            loss = loss_sum / max(n_tokens, 1)
            loss.backward()
            total += float(loss.detach())
        grad_norm = torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        cursor += config.grad_accum
        losses.append(total)
        window_tokens += seq_tokens
        if step % config.log_every == 0 or step == total_steps:
            elapsed = time.perf_counter() - started
            progress.write(
                {
                    "step": step,
                    "epoch": round(epoch + cursor / max(len(order), 1), 3),
                    "loss": round(total, 5),
                    "lr": scheduler.get_last_lr()[0],
                    "grad_norm": round(float(grad_norm), 4),
                    "tokens_per_s": round(window_tokens / max(elapsed, 1e-9), 1),
                }
            )
            window_tokens, started = 0, time.perf_counter()
        if config.save_steps and step % config.save_steps == 0:
            save()
    last = save()
    final = None
    if step >= total_steps:
        final = common.save_final(
            model, processor, output / "final", common.source_dtype(config.model)
        )
    progress.write({"event": "end", "step": step, "checkpoint": str(last)})
    return {
        "steps": step,
        "total_steps": total_steps,
        "losses": losses,
        "checkpoint": str(last),
        "final_model": str(final) if final else "",
        "samples": len(features),
        "skipped_too_long": skipped,
        **counts,
    }


def run_train_sft(
    config: SFTConfig, output: str, beam_argv: Sequence[str] = (), overwrite: bool = False
) -> dict[str, Any]:
    """Stage-registry entry point (`--stage train_sft`); `output` is the training output dir
    unless the config names one. `beam_argv` is unused (training is not a Beam pipeline)."""
    common.require_torch()
    if not config.output:
        config.output = output
    result = train_sft(config, overwrite)
    losses = result["losses"]
    loss_text = f"loss {losses[0]:.4f} -> {losses[-1]:.4f}" if losses else "no step run"
    summary = (
        f"train_sft: {result['steps']}/{result['total_steps']} steps on {result['samples']} "
        f"samples, {loss_text}; checkpoint {result['checkpoint']}"
    )
    return {"stage": STAGE, "accounted": True, "summary": summary, **result}
