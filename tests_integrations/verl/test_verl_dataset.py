"""Our verl Parquet rows read by verl 0.9.1's own `RLHFDataset` (run in .venv-verl).

Two sources of rows: `integrations.verl.data` called here (it needs only PIL and `datasets`,
both in this venv), and the `rl_data` stage itself with `rl_format: verl`, run in the
project's venv (`.venv`, or `DRAWREASON_PYTHON`; Beam is not in this one), skipped without it.

verl's multimodal helpers import `qwen_vl_utils` (not a dependency of the verl 0.9.1 wheel),
which imports torchvision, and the torchvision 0.28.0 wheel does not load against this venv's
torch 2.13.0+cpu (`operator torchvision::nms does not exist`). So the dataset is built with
`filter_overlong_prompts: false` (the length filter runs `qwen_vl_utils` and, on any error,
drops the row with only a printed traceback) and the prompt is tokenized here as the agent
loop does: the chat template over `raw_prompt`, then the processor over its images (without
`qwen_vl_utils`' own resize, a no-op for sides that are multiples of 28).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from drawreason.integrations.verl.data import AGENT_NAME, verl_record, write_verl_parquet
from omegaconf import OmegaConf
from PIL import Image
from verl.utils.dataset.rl_dataset import RLHFDataset

from tests_integrations.common import ROOT, input_image, png, qa_item

sys.path.insert(0, str(ROOT / "scripts"))
from tiny_qwen2vl import CHAT_TEMPLATE, tiny_tokenizer  # noqa: E402

MAX_PROMPT = 8192


@pytest.fixture(scope="module")
def processor():
    """The tiny Qwen2-VL processor for images only (its video processor needs torchvision)."""
    from transformers import Qwen2VLProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    class ImageOnlyProcessor(Qwen2VLProcessor):
        def check_argument_for_proper_class(self, argument_name, argument):
            if argument_name == "video_processor" and argument is None:
                return None
            return super().check_argument_for_proper_class(argument_name, argument)

    return ImageOnlyProcessor(
        image_processor=Qwen2VLImageProcessorPil(min_pixels=28 * 28, max_pixels=112 * 112),
        tokenizer=tiny_tokenizer(),
        video_processor=None,
        chat_template=CHAT_TEMPLATE,
    )


def _dataset(files: list[Path], processor, cache: Path) -> RLHFDataset:
    config = OmegaConf.create(
        {
            "prompt_key": "prompt",
            "image_key": "images",
            "max_prompt_length": MAX_PROMPT,
            "return_raw_chat": True,
            "filter_overlong_prompts": False,
            "cache_dir": str(cache),
        }
    )
    return RLHFDataset(
        data_files=[str(f) for f in files],
        tokenizer=processor.tokenizer,
        config=config,
        processor=processor,
    )


def _check(files: list[Path], processor, cache: Path) -> int:
    """Every row comes back from `__getitem__` with its images in the chat, its tools_kwargs,
    index and agent name, and tokenizes to one image placeholder run per image."""
    rows = [row for f in files for row in pq.read_table(f).to_pylist()]
    dataset = _dataset(files, processor, cache)
    assert len(dataset) == len(rows)
    tokenizer = processor.tokenizer
    pad = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    start = tokenizer.convert_tokens_to_ids("<|vision_start|>")
    for i, row in enumerate(rows):
        sample = dataset[i]
        extra = row["extra_info"]
        assert sample["tools_kwargs"] == extra["tools_kwargs"]  # handed to the agent loop
        assert sample["tools_kwargs"]["object_mapper"]["create_kwargs"]["item_id"]
        assert sample["index"] == extra["index"] and sample["agent_name"] == AGENT_NAME
        assert sample["reward_model"]["ground_truth"] == row["reward_model"]["ground_truth"]
        assert "images" not in sample  # moved into raw_prompt
        system, user = sample["raw_prompt"]
        assert system["content"][0]["type"] == "text"
        images = [part["image"] for part in user["content"] if part["type"] == "image"]
        assert len(images) == len(row["images"]) >= 1
        for image, stored, size in zip(images, row["images"], extra["image_sizes"], strict=True):
            assert image.size == tuple(size) == Image.open(io.BytesIO(stored["bytes"])).size
        text = processor.apply_chat_template(
            sample["raw_prompt"], add_generation_prompt=True, tokenize=False
        )
        inputs = processor(text=[text], images=images, return_tensors="pt")
        ids = inputs["input_ids"][0].tolist()
        grid = inputs["image_grid_thw"]
        assert len(grid) == len(images) and ids.count(start) == len(images)
        merge = processor.image_processor.merge_size**2
        assert ids.count(pad) == int((grid.prod(dim=1) // merge).sum())
        assert inputs["pixel_values"].shape[0] == int(grid.prod(dim=1).sum())
        assert len(ids) <= MAX_PROMPT
    return len(rows)


def test_rlhf_dataset_reads_rows_from_data_py(tmp_path, processor):
    one = qa_item()
    two = dataclasses.replace(one, id="toy-000002", images=("a.png", "b.png"), data_type="video")
    image = input_image()
    rows = [
        verl_record(
            one, [png(image)], [image.size], subset="toy", index=0, max_calls=5, max_images=9
        ),
        verl_record(
            two,
            [png(image)] * 2,
            [image.size] * 2,
            subset="toy",
            index=1,
            max_calls=5,
            max_images=9,
        ),
    ]
    path = tmp_path / "toy.parquet"
    write_verl_parquet(rows, str(path))
    assert _check([path], processor, tmp_path / "cache") == 2


def _project_python() -> str | None:
    python = os.environ.get("DRAWREASON_PYTHON") or str(ROOT / ".venv" / "bin" / "python")
    if not Path(python).is_file():
        return None
    probe = subprocess.run([python, "-c", "import apache_beam"], capture_output=True)
    return python if probe.returncode == 0 else None


def test_rlhf_dataset_reads_rows_the_rl_data_stage_wrote(tmp_path, processor):
    python = _project_python()
    if python is None:
        pytest.skip("no project venv with apache_beam (.venv or DRAWREASON_PYTHON)")
    config = tmp_path / "rl.json"
    config.write_text(
        json.dumps({"num_samples": 6, "dedup": {"enabled": False}, "rl_format": "verl"})
    )
    out = tmp_path / "out"
    argv = [python, str(ROOT / "run_pipeline.py"), "--stage", "rl_data", "--output", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [*argv, "--config", str(config)], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-2000:]
    files = sorted(out.glob("verl/*.parquet"))
    assert [f.name for f in files] == ["maze.parquet", "scenes.parquet"]
    kept = json.loads((out / "metrics.json").read_text())["kept"]
    assert _check(files, processor, tmp_path / "cache") == kept > 0
