"""The data stages of one seed draw disjoint generated questions (each mixes its `seed_salt`
into the seed and the ids), the held-out evaluation questions are other ones again, a rerun
gives the same questions, and one salt given to two stages gives them the same questions."""

import hashlib
import json
from pathlib import Path

import pytest
from drawreason.drawing.format import format_answer_turn

import run_pipeline
from tests.scripted_server import ScriptedServer

SEED = 3
SMALL = {"num_samples": 4, "dedup": {"enabled": False}}
OUTPUT_FOLDERS = ("sft", "rejected", "errors", "rl", "trajectories")


def _run(tmp_path: Path, stage: str, name: str, config: dict, *more: str) -> Path:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(config))
    out = tmp_path / name
    argv = ["--stage", stage, "--output", str(out), "--config", str(path), "--seed", str(SEED)]
    assert run_pipeline.main([*argv, *more]) == 0
    return out


def _question_ids(out: Path) -> set[str]:
    """The question id of every record, rejection and error the run wrote (`#k` dropped)."""
    ids = set()
    for folder in OUTPUT_FOLDERS:
        for path in (out / folder).rglob("*.jsonl"):
            for line in path.read_text().splitlines():
                record = json.loads(line)
                sample = record.get("id") or record.get("sample_id") or record["item"]["id"]
                ids.add(str(sample).split("#")[0])
    return ids


def _image_hashes(out: Path) -> set[str]:
    """sha256 of the bytes of every PNG the run wrote."""
    return {hashlib.sha256(p.read_bytes()).hexdigest() for p in out.rglob("*.png")}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    tmp_path = tmp_path_factory.mktemp("stages")
    runs = {
        "cold_start": _run(tmp_path, "cold_start_data", "cold_start", {"num_samples": 4}),
        "rl_data": _run(tmp_path, "rl_data", "rl_data", SMALL),
    }
    policy = ScriptedServer(lambda messages: format_answer_turn("A guess.", "1"))
    with policy as server:
        teacher = ["--teacher", "openai", "--teacher-endpoint", server.base_url]
        runs["reflective"] = _run(
            tmp_path,
            "reflective_data",
            "reflective",
            {**SMALL, "teacher": {"samples_per_item": 1}},
            *teacher,
            "--teacher-model",
            "policy",
        )
    runs["rl_data_again"] = _run(tmp_path, "rl_data", "rl_data_again", SMALL)
    runs["rl_data_as_cold_start"] = _run(
        tmp_path, "rl_data", "rl_data_as_cold_start", {**SMALL, "seed_salt": "cold_start"}
    )
    return runs


def test_stages_of_one_seed_share_no_question_id_and_no_image(runs):
    stages = ("cold_start", "reflective", "rl_data")
    ids = {stage: _question_ids(runs[stage]) for stage in stages}
    images = {stage: _image_hashes(runs[stage]) for stage in stages}
    for stage in stages:
        assert len(ids[stage]) == 4, ids[stage]  # every generated question is accounted for
        assert all(f"-{stage}-" in i for i in ids[stage])  # the salt is part of the id
        assert images[stage]
    for n, first in enumerate(stages):
        for second in stages[n + 1 :]:
            assert not ids[first] & ids[second], (first, second)
            assert not images[first] & images[second], (first, second)


def test_a_rerun_with_the_same_seed_draws_the_same_questions(runs):
    assert _question_ids(runs["rl_data_again"]) == _question_ids(runs["rl_data"])
    assert _image_hashes(runs["rl_data_again"]) == _image_hashes(runs["rl_data"])


def test_two_stages_given_one_salt_draw_the_same_questions(runs):
    """How to get the old behaviour on purpose: rl_data with `seed_salt: cold_start`."""
    same = runs["rl_data_as_cold_start"]
    assert _question_ids(same) == _question_ids(runs["cold_start"])
    # rl_data writes the input images only; cold start also writes the rendered steps.
    assert _image_hashes(same) <= _image_hashes(runs["cold_start"])


def test_heldout_questions_are_none_of_the_stages_questions(runs):
    from drawreason.pipelines.evaluate import EvaluateConfig, GenerateHeldoutFn
    from drawreason.schemas.config import build_config

    config = build_config(EvaluateConfig, {
        "seed": SEED,
        "heldout": {"maze_grid_sizes": [3, 4, 5], "per_grid_size": 2,
                    "scene_families": ["count"], "per_family": 2},
        "teacher": {"kind": "openai", "model": "m", "endpoint": "http://127.0.0.1:1/v1"},
    })  # fmt: skip
    made = [o for s in config.specs() for o in GenerateHeldoutFn(config).process(s)]
    held = [o.prepared for o in made if hasattr(o, "prepared")]
    assert len(held) == len(config.specs())
    held_ids = {p.item.id for p in held}
    held_images = {hashlib.sha256(png).hexdigest() for p in held for png in p.pngs}
    for stage in ("cold_start", "reflective", "rl_data"):
        assert not held_ids & _question_ids(runs[stage]), stage
        assert not held_images & _image_hashes(runs[stage]), stage


def test_unsalted_questions_are_those_of_earlier_versions_and_bad_salts_are_refused():
    from drawreason.drawing.images import encode_png
    from drawreason.generators.maze import MazeConfig
    from drawreason.generators.maze.sample import generate_maze_sample
    from drawreason.generators.oracle import generate_question
    from drawreason.generators.seeding import sample_rng, stage_seed
    from drawreason.pipelines.rl_data import RLDataConfig

    assert stage_seed(SEED, "") == SEED and stage_seed(SEED, "rl_data") != SEED
    old = generate_question("maze", 1, SEED, MazeConfig())
    assert old.item.id == "maze-00000001"
    salted = generate_question("maze", 1, SEED, MazeConfig(), salt="rl_data")
    assert salted.item.id == "maze-rl_data-00000001" and salted.pngs != old.pngs
    # An empty salt is the seeding before salts: sample_rng(run seed, "<subset>-<index>").
    before = generate_maze_sample("maze-00000001", sample_rng(SEED, "maze-00000001"), MazeConfig())
    assert tuple(encode_png(image) for image in before.images) == old.pngs
    assert RLDataConfig().seed_salt == "rl_data"
    for bad in ("a/b", "-x", "with space"):
        with pytest.raises(ValueError, match="seed_salt"):
            RLDataConfig(seed_salt=bad)
