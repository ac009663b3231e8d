"""A source's licence reaches the dataset card whatever its subset is called (the card names
subsets by the stages' own rule, InputConfig.subset)."""

import json
import shutil

import pytest
from drawreason.publish.card import card_body, collect_sources
from drawreason.publish.dataset import read_run, split_sources

import run_pipeline
from tests.realdata import build_dataset, script_for
from tests.scripted_server import ScriptedServer

REPO = "org/data"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("licences") / "data"
    root.mkdir()
    expect = build_dataset(root)
    # The README's own example file name: its subset is `sr_91k`, not `SR-91k`.
    shutil.copy(root / "qa.jsonl", root / "SR-91k.jsonl")
    return root, expect


def _config(tmp_path, root) -> str:
    inputs = [{"path": str(root / "SR-91k.jsonl"), "license": "cc-by-nc-4.0"}]
    config = {"mix": {"maze": 1.0}, "media": {"max_input_pixels": 500_000}, "inputs": inputs}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return str(path)


def _check_card(out, stage_subset_folder):
    run = read_run(str(out))
    splits = split_sources(run)
    assert "sr_91k" in {s.subset for s in splits}
    sources = {s.subset: s for s in collect_sources(run, [s.subset for s in splits])}
    assert sources["sr_91k"].license == "cc-by-nc-4.0" and sources["sr_91k"].non_commercial
    assert sources["sr_91k"].source.endswith("SR-91k.jsonl")
    body = card_body(run, REPO, splits, list(sources.values()), {})
    assert "> **Non-commercial data.**" in body.split("## Subsets")[0]
    assert "generated:sr_91k" not in body
    assert (out / stage_subset_folder / "sr_91k.jsonl").is_file()


def test_rl_data_card_flags_a_non_commercial_input(data, tmp_path):
    root, _ = data
    out = tmp_path / "rl"
    argv = ["--stage", "rl_data", "--output", str(out), "--num-samples", "4"]
    assert run_pipeline.main([*argv, "--config", _config(tmp_path, root)]) == 0
    _check_card(out, "rl")


def test_cold_start_card_flags_a_non_commercial_input(data, tmp_path):
    root, expect = data
    out = tmp_path / "cold"
    argv = ["--stage", "cold_start_data", "--output", str(out), "--num-samples", "2"]
    argv += ["--config", _config(tmp_path, root), "--teacher", "openai"]
    with ScriptedServer(script_for(expect)) as server:
        argv += ["--teacher-endpoint", server.base_url, "--teacher-model", "scripted-vlm"]
        assert run_pipeline.main(argv) == 0
    _check_card(out, "sft/cold_start")
