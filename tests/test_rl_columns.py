"""The RL column names are the run's: rl_data writes renamed columns, and the trainer's data
loading, the hand-off and the report read them from the run's config.json, not by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from drawreason.report.data import KEPT, scan_run
from drawreason.trainer.data import load_rl_samples
from drawreason.trainer.handoff import write_handoff

import run_pipeline

KEYS = {
    "question": "prompt_text",
    "problem": "prompt_with_images",
    "image_path": "",
    "images": "pictures",
    "answer": "gold",
    "reward_truth": "truth",
}
DEFAULT_NAMES = {"question", "problem", "image_path", "images", "answer", "reward_truth"}


def _rl_data(tmp_path: Path, config: dict, out: str = "out") -> Path:
    path = tmp_path / f"{out}.json"
    path.write_text(json.dumps(config))
    argv = ["--stage", "rl_data", "--output", str(tmp_path / out), "--config", str(path)]
    assert run_pipeline.main(argv) == 0
    return tmp_path / out


def _records(out: Path) -> list[dict]:
    lines = [line for f in sorted((out / "rl").glob("*.jsonl")) for line in f.open()]
    return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def renamed(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("renamed")
    return _rl_data(tmp, {"num_samples": 6, "maze": {"max_calls": 18}, "keys": KEYS})


def test_rl_data_writes_the_configured_names(renamed: Path) -> None:
    records = _records(renamed)
    assert len(records) == 6
    for record in records:
        assert set(KEYS.values()) - {""} <= set(record)
        assert not DEFAULT_NAMES & set(record)


def test_trainer_loads_the_run_columns_and_budgets(renamed: Path) -> None:
    by_id = {r["id"]: r for r in _records(renamed)}
    samples = load_rl_samples(renamed)
    assert sorted(s.id for s in samples) == sorted(by_id)
    for sample in samples:
        record = by_id[sample.id]
        assert sample.question == record["prompt_text"] and sample.answer == record["gold"]
        assert len(sample.images) == len(record["pictures"])
        assert all(Path(image).is_file() for image in sample.images)
        # the maze budget is the run's own (18 here), the scenes' their default
        assert sample.max_calls == {"maze": 18, "scenes": 10}[sample.subset]
    # one shard on its own: the run is the nearest folder above it with a config.json
    maze = load_rl_samples(renamed / "rl" / "maze.jsonl")
    assert {s.id for s in maze} == {i for i in by_id if i.startswith("maze")}
    assert {s.max_calls for s in maze} == {18}


def test_handoff_names_the_run_columns(renamed: Path, tmp_path: Path) -> None:
    written = write_handoff(renamed, tmp_path / "handoff")
    data = yaml.safe_load(Path(written["stage3"]).read_text())["data"]
    assert data["prompt_key"] == "prompt_with_images"
    assert data["image_key"] == "pictures"
    assert data["answer_key"] == "truth"


def test_report_reads_the_run_columns(renamed: Path) -> None:
    records = {r["id"]: r for r in _records(renamed)}
    scan = scan_run(str(renamed), 50, 0)
    entries = [
        entry
        for (subset, status, _), group in scan.groups.items()
        if status == KEPT
        for entry in group.items()
    ]
    assert sorted(e["id"] for e in entries) == sorted(records)
    for entry in entries:
        record = records[entry["id"]]
        assert entry["gold"] == record["gold"]
        assert entry["question"] == record["prompt_with_images"]
        assert len(entry["inputs"]) == len(record["pictures"])
    choices = sum(r["question_type"] == "multiple choice" for r in records.values())
    assert sum(sum(c.values()) for c in scan.stats.letters.values()) == choices > 0
    assert run_pipeline.main(["--stage", "report", "--output", str(renamed)]) == 0
    assert (renamed / "report.html").stat().st_size > 0


def test_trainer_refuses_a_run_without_a_question_column(tmp_path: Path) -> None:
    out = _rl_data(tmp_path, {"num_samples": 2, "rl_format": "easyr1"})
    with pytest.raises(ValueError, match="no question column.*keys.question"):
        load_rl_samples(out)
