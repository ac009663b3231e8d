"""The cold_start stage on Beam: kept, rejected and errors routed, counted and written."""

import json
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from drawreason.generators import registry
from drawreason.pipelines import cold_start
from drawreason.pipelines.cold_start import ColdStartConfig, build_pipeline
from drawreason.schemas.layout import part_index
from drawreason.schemas.records import rejection_from_dict
from drawreason.schemas.sharegpt import validate_sharegpt

from tests.factories import PROVENANCE
from tests.scripted import OUTCOMES, ScriptedConfig, generate_scripted


def _run(config: ColdStartConfig, out: Path):
    pipeline = TestPipeline(
        runner="FnApiRunner", options=beam.options.pipeline_options.PipelineOptions([])
    )
    metrics = build_pipeline(pipeline, config, str(out), PROVENANCE)
    summary = metrics | beam.Map(lambda m: (m.input, m.kept, m.errors, m.accounted, m.rejected))
    return pipeline, summary


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def scripted(monkeypatch):
    spec = registry.GeneratorSpec(ScriptedConfig, generate_scripted)
    monkeypatch.setitem(registry.GENERATORS, "scripted", spec)


def test_every_outcome_is_routed_and_counted(scripted, tmp_path):
    n = 4 * len(OUTCOMES)
    config = ColdStartConfig(num_samples=n, mix={"scripted": 1.0}, chunk_size=5)
    pipeline, summary = _run(config, tmp_path)
    rejected = {"bad_operation": 4, "no_action": 4, "wrong_answer": 4, "too_few_turns": 4}
    assert_that(summary, equal_to([(n, 4, 4, True, rejected)]))
    result = pipeline.run()
    result.wait_until_finish()

    kept = _lines(tmp_path / "sft/cold_start/scripted.jsonl")
    ids = [f"scripted-cold_start-{i:08d}" for i in range(0, n, len(OUTCOMES))]
    assert [r["id"] for r in kept] == ids  # the stage's salt is in the ids
    for record in kept:
        validate_sharegpt(record)
        for image in record["images"]:
            assert (tmp_path / image).is_file()

    rejections = [
        rejection_from_dict(r) for r in _lines(tmp_path / "rejected/cold_start/scripted.jsonl")
    ]
    by_reason = {}
    for rej in rejections:
        expected = OUTCOMES[int(rej.sample_id.rsplit("-", 1)[1]) % len(OUTCOMES)]
        assert rej.reason == expected, rej
        assert rej.trajectory is not None and rej.trajectory.id == rej.sample_id
        by_reason[rej.reason] = by_reason.get(rej.reason, 0) + 1
    assert by_reason == rejected
    detail = {r.reason: r.detail for r in rejections}
    assert "index 9 out of range" in detail["bad_operation"]
    assert "answered '3', expected '2'" in detail["wrong_answer"]
    # The rejected trajectories' images are written too, for offline re-filtering.
    for rej in rejections:
        for key in rej.trajectory.image_keys:
            assert (tmp_path / "images" / key[:2] / key).is_file()

    errors = _lines(tmp_path / "errors/cold_start.jsonl")
    assert len(errors) == 4 and all(e["error_type"] == "ValueError" for e in errors)
    assert all("scripted failure" in e["message"] for e in errors)

    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert (
        metrics["input"] == metrics["kept"] + sum(metrics["rejected"].values()) + metrics["errors"]
    )
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert info["cold_start_scripted"]["file_name"] == "sft/cold_start/scripted.jsonl"

    counters = {
        c.key.metric.name: c.committed
        for c in result.metrics().query(MetricsFilter().with_namespace("cold_start"))["counters"]
    }
    assert counters["kept"] == 4 and counters["errors"] == 4
    assert counters["rejected_bad_operation"] == 4 and counters["rejected_too_few_turns"] == 4


def test_default_stage_writes_a_loadable_dataset_with_both_subsets(tmp_path):
    config = ColdStartConfig(num_samples=40, seed=3, chunk_size=7)
    pipeline, summary = _run(config, tmp_path)
    assert_that(summary | beam.Map(lambda s: (s[0], s[3])), equal_to([(40, True)]))
    pipeline.run().wait_until_finish()
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["accounted"]
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert sorted(info) == ["cold_start_maze", "cold_start_scenes"]
    for subset in ("maze", "scenes"):
        entry = metrics["subsets"][subset]
        assert entry["input"] == 20 and entry["kept"] > 0
        kept = _lines(tmp_path / f"sft/cold_start/{subset}.jsonl")
        assert len(kept) == entry["kept"]
        for record in kept:
            validate_sharegpt(record)
            assert len(record["images"]) >= 3  # inputs plus at least two rendered steps
            assert all((tmp_path / p).is_file() for p in record["images"])
    assert metrics["subsets"]["maze"]["reflective_kept"] >= 1


def test_a_large_subset_is_split_into_parts_by_id(scripted, tmp_path):
    # At 3 records per part the 4 kept records become 2 parts, named like Hub split shards.
    config = ColdStartConfig(num_samples=24, mix={"scripted": 1.0}, records_per_part=3)
    pipeline, _ = _run(config, tmp_path)
    pipeline.run().wait_until_finish()
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    kept = metrics["subsets"]["scripted"]["kept"]
    folder = tmp_path / "sft/cold_start/scripted"
    parts = sorted(folder.glob("scripted-*-of-*.jsonl"))
    count = -(-kept // 3)
    assert [p.name for p in parts] == [
        f"scripted-{i:05d}-of-{count:05d}.jsonl" for i in range(count)
    ]
    assert not (tmp_path / "sft/cold_start/scripted.jsonl").exists()
    for part in parts:
        ids = [r["id"] for r in _lines(part)]
        assert ids == sorted(ids)
        assert all(part_index(i, count) == int(part.name.split("-")[-3]) for i in ids)
    ids = [r["id"] for p in parts for r in _lines(p)]
    assert len(ids) == kept and len(set(ids)) == kept
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert info["cold_start_scripted"]["file_name"] == "sft/cold_start/scripted"


def test_allocation_splits_by_mix():
    config = ColdStartConfig(num_samples=10, mix={"maze": 1.0})
    assert config.allocation() == {"maze": 10}
    assert sum(n for _, s, e in cold_start.work_chunks(config) for n in [e - s]) == 10
