"""Teacher rollouts on generated mazes and scenes (cold_start_data `teacher_subsets`,
reflective_data `require_corrective`) against a scripted OpenAI-compatible teacher on
loopback, judged step by step against the questions' oracle facts."""

import json
from pathlib import Path

import pytest
from drawreason.generators.maze import MazeConfig
from drawreason.generators.scenes import SceneConfig
from drawreason.pipelines.cold_start import ColdStartConfig
from drawreason.pipelines.stage import allocate
from drawreason.schemas.records import rejection_from_dict, trajectory_from_dict
from drawreason.schemas.sharegpt import validate_sharegpt

import run_pipeline
from tests.grounded_teacher import GroundedTeacher, generated_questions
from tests.scripted_server import ScriptedServer

SCENES = {"question_mix": [["closest", 1.0]], "reflective_share": 0.0}
MAZE_PLAN = ("good", "wall", "partial", "good")
SCENE_PLAN = ("good", "wrong_box", "fixed", "cosmetic")
EXPECTED = {  # variant -> outcome in cold start
    "good": "kept",
    "wall": "line_through_wall",
    "partial": "route_invalid",
    "wrong_box": "ungrounded_box",
    "fixed": "kept",
    "cosmetic": "kept",
}


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _teacher_args(server: ScriptedServer) -> list[str]:
    return [
        "--teacher",
        "openai",
        "--teacher-endpoint",
        server.base_url,
        "--teacher-model",
        "scripted-vlm",
    ]


def _plan(question) -> str:
    index = int(question.item.id.rsplit("-", 1)[1])
    plan = MAZE_PLAN if question.item.id.startswith("maze") else SCENE_PLAN
    return plan[index % len(plan)]


def test_cold_start_teacher_on_generated_tasks_is_grounded_against_the_oracle(tmp_path):
    config = tmp_path / "c.json"
    config.write_text(
        json.dumps(
            {
                "mix": {"maze": 0.5, "scenes": 0.5},
                "teacher_subsets": ["maze", "scenes"],
                "scenes": SCENES,
            }
        )
    )
    stage_config = ColdStartConfig(
        mix={"maze": 0.5, "scenes": 0.5},
        generators={"scenes": SceneConfig(question_mix=(("closest", 1.0),), reflective_share=0.0)},
    )
    questions = generated_questions(
        allocate(8, stage_config.mix),
        0,
        "cold_start",
        {"maze": MazeConfig(), "scenes": stage_config.generators["scenes"]},
    )
    out = tmp_path / "out"
    with ScriptedServer(GroundedTeacher(questions, _plan)) as server:
        argv = ["--stage", "cold_start_data", "--output", str(out), "--num-samples", "8"]
        argv += ["--config", str(config), *_teacher_args(server)]
        assert run_pipeline.main(argv) == 0
        assert not server.script_errors

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["accounted"] and metrics["input"] == 8
    by_id = {q.item.id: _plan(q) for q in questions.values()}
    outcomes = {}
    for subset in ("maze", "scenes"):
        for record in _lines(out / f"sft/cold_start/{subset}.jsonl"):
            validate_sharegpt(record)
            outcomes[record["id"]] = "kept"
        for line in _lines(out / f"rejected/cold_start/{subset}.jsonl"):
            rejection = rejection_from_dict(line)
            outcomes[rejection.sample_id] = rejection.reason
            g = rejection.trajectory.grounding  # the rejection carries the step-level result
            assert g is not None and g.final_ungrounded or g.route and not g.route.valid
            assert rejection.trajectory.scores["grounding"] == g.score
    expected = {f"{qid}#0": EXPECTED[variant] for qid, variant in by_id.items()}
    assert outcomes == expected

    # the full records of kept teacher trajectories: oracle facts, per-step grounding, kinds
    records = {}
    for subset in ("maze", "scenes"):
        for line in _lines(out / f"trajectories/cold_start/{subset}.jsonl"):
            trajectory = trajectory_from_dict(line)
            assert trajectory.item.oracle is not None
            assert trajectory.provenance.producer.startswith("teacher:")
            records[trajectory.id] = trajectory
    assert set(records) == {k for k, v in expected.items() if v == "kept"}
    kinds = {}
    for tid, trajectory in records.items():
        g = trajectory.grounding
        variant = by_id[tid.split("#")[0]]
        kinds[variant] = sorted(c.kind for c in g.corrections)
        assert all(share == 1.0 for _, share in g.steps) or variant == "fixed"
        if trajectory.subset == "maze":
            assert g.route.valid and g.route.shortest and g.score == 1.0
    assert kinds["fixed"] == ["corrective"]  # a wrong box then fixed
    assert kinds["cosmetic"] == ["cosmetic"]  # a 1 px redraw changes nothing
    assert kinds["good"] == []

    scenes = metrics["subsets"]["scenes"]["grounding"]
    assert scenes["trajectories"] == 4 and scenes["corrections"] == {"corrective": 1, "cosmetic": 1}
    assert 0 < scenes["grounded_share"] < 1
    maze = metrics["subsets"]["maze"]
    assert maze["rejected"] == {"line_through_wall": 1, "route_invalid": 1}


def test_reflective_data_can_require_corrective_reflection_on_generated_tasks(tmp_path):
    config = tmp_path / "c.json"
    config.write_text(
        json.dumps(
            {
                "mix": {"scenes": 1.0},
                "scenes": SCENES,
                "require_corrective": True,
                "teacher": {"samples_per_item": 2},
            }
        )
    )
    scenes = SceneConfig(question_mix=(("closest", 1.0),), reflective_share=0.0)
    questions = generated_questions({"scenes": 2}, 0, "reflective", {"scenes": scenes})
    out = tmp_path / "out"
    with ScriptedServer(GroundedTeacher(questions, per_sample=("fixed", "cosmetic"))) as server:
        argv = ["--stage", "reflective_data", "--output", str(out), "--num-samples", "2"]
        argv += ["--config", str(config), *_teacher_args(server)]
        assert run_pipeline.main(argv) == 0
        assert not server.script_errors

    metrics = json.loads((out / "metrics.json").read_text())
    entry = metrics["subsets"]["scenes"]
    assert metrics["accounted"] and entry["input"] == 4
    # both samples reflected; only the redraw that fixed an ungrounded box is kept
    assert entry["kept"] == 2 and entry["rejected"] == {"not_corrective": 2}
    assert entry["sampled_reflection_rate"] == 1.0
    for line in _lines(out / "rejected/reflective/scenes.jsonl"):
        rejection = rejection_from_dict(line)
        assert [c.kind for c in rejection.trajectory.grounding.corrections] == ["cosmetic"]
    kept = _lines(out / "trajectories/reflective/scenes.jsonl")
    assert [[c["kind"] for c in t["grounding"]["corrections"]] for t in kept] == [
        ["corrective"]
    ] * 2


def test_teacher_subsets_config_splits_oracle_and_teacher_questions():
    from drawreason.teachers.factory import TeacherConfig

    teacher = TeacherConfig(kind="openai", model="m", endpoint="http://127.0.0.1:1/v1")
    config = ColdStartConfig(num_samples=10, teacher_subsets=("maze",), teacher=teacher)
    assert config.uses_teacher
    assert config.oracle_allocation() == {"scenes": 5}
    assert config.teacher_allocation() == {"maze": 5}
    from drawreason.cli.stages import progress_phases

    assert progress_phases(config) == {"samples generated": 5, "teacher trajectories": 5}
    beside = ColdStartConfig(
        num_samples=10, teacher_subsets=("maze",), oracle_beside_teacher=True, teacher=teacher
    )
    assert beside.oracle_allocation() == {"maze": 5, "scenes": 5}
    with pytest.raises(ValueError, match="need a teacher"):
        ColdStartConfig(teacher_subsets=("maze",))
    with pytest.raises(ValueError, match="not a generated subset"):
        ColdStartConfig(mix={"maze": 1.0}, teacher_subsets=("scenes",), teacher=teacher)
    assert ColdStartConfig().oracle_allocation() == ColdStartConfig().allocation()
