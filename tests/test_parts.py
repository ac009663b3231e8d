"""Runs whose subsets are split into part files (schemas/layout.py): the same bytes for one and
two workers, and every reader finds every part: `datasets`, the trainer's loaders, the report,
the dataset card and the Hub push (loaded back from a loopback Hub)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from drawreason.publish.dataset import read_run, split_sources
from drawreason.report import ReportConfig, run_report
from drawreason.schemas import layout
from drawreason.trainer.data import load_rl_samples, load_sft_samples

from tests.hub_server import HubServer
from tests.test_cli import _digest
from tests.test_publish import LOAD, PUSH, TOKEN, _env, _python, _tagged

ROOT = Path(__file__).resolve().parents[1]
PER_PART = 4
REPO = "drawreason-test/parts"


def _run(stage: str, out: Path, workers: int, config: Path) -> Path:
    result = subprocess.run(
        [sys.executable, "run_pipeline.py", "--stage", stage, "--output", str(out)]
        + ["--num-samples", "24", "--seed", "3", "--config", str(config)]
        + ["--runner", "FnApiRunner", "--direct_running_mode", "multi_processing"]
        + [f"--direct_num_workers={workers}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, int], Path]:
    base = tmp_path_factory.mktemp("parts")
    config = base / "parts.json"
    config.write_text(json.dumps({"records_per_part": PER_PART}))
    return {
        (stage, workers): _run(stage, base / f"{stage}-{workers}", workers, config)
        for stage in ("cold_start_data", "rl_data")
        for workers in (1, 2)
    }


def _kept(run: Path) -> dict[str, int]:
    metrics = json.loads((run / layout.METRICS).read_text())
    return {subset: entry["kept"] for subset, entry in metrics["subsets"].items()}


def _parts(run: Path, folder: str, subset: str, suffix: str = ".jsonl") -> list[Path]:
    return sorted((run / folder / subset).glob(f"{subset}-*-of-*{suffix}"))


@pytest.mark.parametrize("stage", ["cold_start_data", "rl_data"])
def test_one_and_two_workers_write_the_same_parts(runs, stage):
    one, two = runs[(stage, 1)], runs[(stage, 2)]
    assert _digest(one) == _digest(two)
    folder = layout.sft_dir("cold_start") if stage == "cold_start_data" else layout.RL
    for subset, kept in _kept(one).items():
        count = layout.part_count(kept, PER_PART)
        assert count > 1  # the test is about parts
        parts = _parts(one, folder, subset)
        assert [p.name for p in parts] == [
            f"{subset}-{i:05d}-of-{count:05d}.jsonl" for i in range(count)
        ]
        assert not (one / folder / f"{subset}.jsonl").exists()
        ids = []
        for index, part in enumerate(parts):
            part_ids = [json.loads(line)["id"] for line in part.read_text().splitlines()]
            assert part_ids == sorted(part_ids)
            assert all(layout.part_index(i, count) == index for i in part_ids)
            ids += part_ids
        assert len(ids) == len(set(ids)) == kept
        if stage == "rl_data":  # the Parquet has the same parts as the JSONL
            parquet = _parts(one, folder, subset, ".parquet")
            assert [p.stem for p in parquet] == [p.stem for p in parts]


def test_dataset_info_names_the_folder_of_parts(runs):
    run = runs[("cold_start_data", 2)]
    info = json.loads((run / layout.DATASET_INFO).read_text())
    assert {name: entry["file_name"] for name, entry in info.items()} == {
        "cold_start_maze": "sft/cold_start/maze",
        "cold_start_scenes": "sft/cold_start/scenes",
    }


def test_datasets_loads_the_parts_as_one_split(runs):
    import datasets

    sft, rl = runs[("cold_start_data", 2)], runs[("rl_data", 2)]
    for subset, kept in _kept(sft).items():
        files = [str(p) for p in _parts(sft, "sft/cold_start", subset)]
        loaded = datasets.load_dataset("json", data_files={subset: files}, split=subset)
        assert len(loaded) == kept
    for subset, kept in _kept(rl).items():
        files = [str(p) for p in _parts(rl, "rl", subset, ".parquet")]
        loaded = datasets.load_dataset("parquet", data_files={subset: files}, split=subset)
        assert len(loaded) == kept
        assert isinstance(loaded.features["images"].feature, datasets.Image)
        assert loaded[0]["images"][0].size == (448, 448)  # decoded from the embedded bytes
        jsonl = _parts(rl, "rl", subset)
        ids = [json.loads(line)["id"] for p in jsonl for line in p.read_text().splitlines()]
        assert loaded["id"] == ids  # part by part, each sorted by id


def test_trainer_reads_every_part(runs):
    sft, rl = runs[("cold_start_data", 2)], runs[("rl_data", 2)]
    samples = load_sft_samples(sft)
    assert len(samples) == sum(_kept(sft).values())
    assert all(Path(p).is_file() for s in samples for p in s.images)
    rl_samples = load_rl_samples(rl)
    assert len(rl_samples) == sum(_kept(rl).values())
    assert all(Path(p).is_file() for s in rl_samples for p in s.images)  # ../../images/...


def test_report_counts_every_part(runs):
    for stage in ("cold_start_data", "rl_data"):
        run = runs[(stage, 2)]
        metrics = json.loads((run / layout.METRICS).read_text())
        result = run_report(ReportConfig(), str(run), [], False)
        assert result["total"] == metrics["kept"] + sum(metrics["rejected"].values())


def test_publish_finds_every_part(runs):
    run = runs[("cold_start_data", 2)]
    sources = split_sources(read_run(str(run)))
    for source in sources:
        expected = _parts(run, "sft/cold_start", source.subset)
        assert [run / f for f in source.files] == expected


def test_push_and_card_of_a_run_in_parts(runs, tmp_path):
    run = runs[("cold_start_data", 2)]
    hub = HubServer(token=TOKEN).start()
    try:
        env = _env(hub, tmp_path)
        result = _tagged(_python(PUSH, [REPO, str(run), ""], env), "RESULT")
        assert result["rows"] == _kept(run)
        loaded = _tagged(_python(LOAD, [REPO, "cold_start", "images"], env), "LOADED")
        readme = hub.read("dataset", REPO, "README.md").decode()
    finally:
        hub.stop()
    for subset, kept in _kept(run).items():
        records = [
            json.loads(line)
            for part in _parts(run, "sft/cold_start", subset)
            for line in part.read_text().splitlines()
        ]
        records.sort(key=lambda r: r["id"])  # the Hub split is in id order across parts
        rows = loaded[subset]["rows"]
        assert [r["id"] for r in rows] == [r["id"] for r in records] and len(rows) == kept
        assert rows[0]["images"] == [
            hashlib.sha256((run / p).read_bytes()).hexdigest() for p in records[0]["images"]
        ]
        assert f"| `{subset}` | `{subset}` | " in readme and f" | {kept} | " in readme


def test_packed_and_text_lines_write_the_same_part(tmp_path):
    """Lines travel to the writer zlib-packed (pipelines.io.pack_line); the part written from
    packed lines is byte-identical to the one written from text, sorted by id then line."""
    from drawreason.pipelines.io import WriteSortedLinesFn, pack_line, unpack_line

    records = [("b", '{"id": "b", "x": "é"}'), ("a", '{"id": "a", "n": 2}'), ("a", '{"id": "a"}')]
    assert all(unpack_line(pack_line(line)) == line for _, line in records)
    assert len(pack_line("x" * 10_000)) < 200  # what makes the driver's buffers small
    for folder, payload in (("text", records), ("packed", [(i, pack_line(s)) for i, s in records])):
        (written,) = WriteSortedLinesFn(str(tmp_path / folder)).process(("p.jsonl", payload))
        assert written == "p.jsonl"
    text = (tmp_path / "text/p.jsonl").read_bytes()
    assert text == (tmp_path / "packed/p.jsonl").read_bytes()
    assert text.decode("utf-8").splitlines() == [line for _, line in sorted(records)]
