"""SFT trainer on a small shard from the pipeline, tiny random Qwen2-VL on CPU: exact loss mask,
overfit, exact resume (also through `python -m drawreason.trainer sft`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from drawreason.trainer.common import load_processor
from drawreason.trainer.data import (
    IM_END,
    Encoder,
    assistant_mask,
    encode_sft_sample,
    load_sft_samples,
)
from drawreason.trainer.sft import SFTConfig, run_train_sft, train_sft
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
SCENES = ("cold_start_scenes",)  # shorter than mazes (fewer images): keeps CPU steps fast


@pytest.fixture(scope="module")
def cold_start_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cold-start")
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "run_pipeline.py"),
            "--stage",
            "cold_start_data",
            "--output",
            str(out),
            "--num-samples",
            "4",
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    return out


def test_mask_is_exactly_the_assistant_tokens(cold_start_run: Path, tiny_model: Path) -> None:
    encoder = Encoder(load_processor(str(tiny_model)))
    sample = next(s for s in load_sft_samples(cold_start_run) if len(s.images) >= 3)
    encoded = encode_sft_sample(encoder, sample)
    mask = assistant_mask(encoded)
    tok = encoder.tokenizer
    # Independent expectation: tokenise the conversation piece by piece (special tokens split
    # the text, so pieces tokenise alone exactly as in the whole) with each piece's flag.
    counts = encoder.image_tokens(encoded["image_grid_thw"])
    expected_ids: list[int] = []
    expected_mask: list[bool] = []
    image = 0
    for role, content in sample.messages:
        pieces = [(f"<|im_start|>{role}\n", False)]
        for k, part in enumerate(content.split("<image>")):
            if k:
                pad = "<|vision_start|>" + "<|image_pad|>" * counts[image] + "<|vision_end|>"
                pieces.append((pad, False))
                image += 1
            pieces.append((part, role == "assistant"))
        pieces += [(IM_END, role == "assistant"), ("\n", False)]
        for text, trained in pieces:
            ids = tok(text, add_special_tokens=False)["input_ids"] if text else []
            expected_ids += ids
            expected_mask += [trained] * len(ids)
    assert encoded["input_ids"] == expected_ids
    for i, (got, want) in enumerate(zip(mask, expected_mask, strict=True)):
        assert got == want, f"token {i} {tok.convert_ids_to_tokens(expected_ids[i])!r}"
    assert image == len(sample.images) >= 3
    trained_text = tok.decode([t for t, m in zip(encoded["input_ids"], mask, strict=False) if m])
    assistants = [c for r, c in sample.messages if r == "assistant"]
    assert trained_text == "".join(c + IM_END for c in assistants)
    pairs = zip(encoded["input_ids"], mask, strict=True)
    assert encoded["labels"] == [t if m else -100 for t, m in pairs]
    n_user = sum(r != "assistant" for r, _ in sample.messages)
    print(
        f"\nmask: {sum(mask)} trained / {len(mask)} tokens, {len(assistants)} assistant and "
        f"{n_user} system/user/environment turns, {len(sample.images)} images"
    )


def test_sft_overfits_a_small_shard(cold_start_run: Path, tiny_model: Path, tmp_path: Path) -> None:
    config = SFTConfig(
        data=str(cold_start_run),
        model=str(tiny_model),
        output=str(tmp_path / "sft"),
        datasets=SCENES,
        max_steps=40,
        lr=3e-3,
        batch_size=2,
        grad_accum=1,
        warmup_ratio=0.0,
        scheduler="constant",
        save_steps=0,
        seed=0,
        quiet=True,
    )
    result = run_train_sft(config, str(tmp_path / "unused"))
    losses = result["losses"]
    print(f"\nSFT overfit: loss {losses[0]:.3f} (step 1) -> {losses[-1]:.3f} (step {len(losses)})")
    assert result["stage"] == "train_sft" and result["accounted"]
    assert len(losses) == 40
    assert losses[-1] < 0.5 * losses[0]
    # The vision tower and projector are frozen by default; the language model trains.
    assert 0 < result["trainable_params"] < result["total_params"]
    assert (Path(result["final_model"]) / "model.safetensors").is_file()


def _weights(checkpoint: str) -> dict[str, torch.Tensor]:
    return load_file(str(Path(checkpoint) / "model.safetensors"))


def test_resume_continues_exactly(cold_start_run: Path, tiny_model: Path, tmp_path: Path) -> None:
    common = dict(
        data=str(cold_start_run),
        model=str(tiny_model),
        datasets=SCENES,
        max_steps=6,
        lr=1e-3,
        batch_size=1,
        grad_accum=1,
        warmup_ratio=0.2,
        scheduler="cosine",
        seed=3,
        quiet=True,
    )
    straight = train_sft(SFTConfig(output=str(tmp_path / "a"), **common))
    # Interrupted after 3 steps through the CLI, then resumed through the API.
    cli = [
        sys.executable,
        "-m",
        "drawreason.trainer",
        "sft",
        "--data",
        str(cold_start_run),
        "--model",
        str(tiny_model),
        "--output",
        str(tmp_path / "b"),
        "--datasets",
        *SCENES,
        "--max-steps",
        "6",
        "--lr",
        "1e-3",
        "--batch-size",
        "1",
        "--grad-accum",
        "1",
        "--warmup-ratio",
        "0.2",
        "--scheduler",
        "cosine",
        "--seed",
        "3",
        "--quiet",
        "--stop-after-steps",
        "3",
    ]
    done = subprocess.run(cli, check=True, capture_output=True, text=True, cwd=ROOT)
    assert "train_sft: 3/6 steps" in done.stdout
    resumed = train_sft(SFTConfig(output=str(tmp_path / "b"), resume=True, **common))
    print(
        f"\nresume: straight losses {[round(x, 5) for x in straight['losses']]}, "
        f"resumed steps 4-6 {[round(x, 5) for x in resumed['losses']]}"
    )
    assert resumed["steps"] == 6 and len(resumed["losses"]) == 3
    assert resumed["losses"] == pytest.approx(straight["losses"][3:], rel=1e-4, abs=1e-5)
    a, b = _weights(straight["checkpoint"]), _weights(resumed["checkpoint"])
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-6, msg=name)
