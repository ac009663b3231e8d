"""The evaluate stage against a scripted policy on loopback: accuracy and behaviour counts known
by construction, per sub-task; --compare reports the known relative change."""

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from drawreason.drawing.format import format_answer_turn, format_tool_turn
from drawreason.pipelines.eval_results import EvalRow, accuracy_block, wilson_interval
from drawreason.schemas.records import BoxOp, LineOp
from PIL import Image

import run_pipeline
from tests.scripted_server import ScriptedServer, assistant_turns, first_user_text

# A SPAR-Bench file: `relation` (multiple choice, answer B) and `depth` (numerical, answer 20).
QUESTIONS = {
    "R1": ("relation", "B"),
    "R2": ("relation", "B"),
    "R3": ("relation", "B"),
    "R4": ("relation", "B"),
    "D1": ("depth", "20"),
    "D2": ("depth", "20"),
}
# What the policy does with each question (variant, its final answer).
PLAN_A = {
    "R1": ("reflect", "B"),  # box, box moved, answer: 3 turns, 2 boxes, reflective
    "R2": ("plain", "B"),  # box, line, answer: 3 turns, 1 box, 1 line
    "R3": ("short", "C"),  # line, answer (wrong): 2 turns, 1 line
    "R4": ("silent", ""),  # no action: 1 turn, no_action, format invalid
    "D1": ("plain", "19"),  # MRA of 19 against 20 is exactly 0.9
    "D2": ("reflect", "20"),
}
PLAN_B = {**PLAN_A, "R3": ("reflect", "B"), "R4": ("plain", "B")}
STEPS = {"reflect": ["box", "box_again", "answer"], "plain": ["box", "line", "answer"],
         "short": ["line", "answer"], "silent": ["silent"]}  # fmt: skip


def _policy(plan):
    def script(messages):
        tag = re.search(r"\[(\w+)\]", first_user_text(messages)).group(1)
        variant, answer = plan[tag]
        step = STEPS[variant][assistant_turns(messages)]
        if step == "box":
            return format_tool_turn("Box the cup.", [BoxOp(1, (4, 4, 30, 30), "cup")])
        if step == "box_again":
            return format_tool_turn("That box is off.", [BoxOp(2, (8, 8, 40, 40), "cup")])
        if step == "line":
            return format_tool_turn("Measure.", [LineOp(1, (4, 4), (40, 40), "gap")])
        if step == "silent":
            return "I am not sure what to do."
        return format_answer_turn("Done.", answer)

    return script


def _write_spar(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    lines = []
    for n, (tag, (task, answer)) in enumerate(QUESTIONS.items()):
        Image.new("RGB", (112, 84), (30 * n, 90, 200)).save(root / f"{tag}.png")
        if task == "relation":
            question = f"[{tag}] Which object is nearer?\nA. cup\nB. plate\nC. fork"
            form = "select"
        else:
            question = f"[{tag}] How far is the cup from the plate, in cm?"
            form = "fill"
        record = {"id": tag, "image": [f"{tag}.png"], "question": question, "answer": answer,
                  "task": task, "format_type": form}  # fmt: skip
        lines.append(json.dumps(record))
    lines.append(json.dumps({"id": "BAD1", "image": ["R1.png"], "question": "[R1] q?",
                             "answer": "3", "format_type": "fill"}))  # fmt: skip  # no `task`
    free = {"id": "FREE1", "image": ["R1.png"], "question": "[R1] What?", "answer": "a chair"}
    lines.append(json.dumps({**free, "task": "depth", "format_type": "fill"}))
    lines.append("{not json")
    path = root / "spar_bench.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def _run(out: Path, data: Path, server: ScriptedServer, tmp_path: Path) -> None:
    config = tmp_path / "eval.json"
    config.write_text(json.dumps({"benchmarks": [{"format": "spar_bench", "path": str(data)}]}))
    argv = ["--stage", "evaluate", "--output", str(out), "--config", str(config),
            "--teacher", "openai", "--teacher-endpoint", server.base_url,
            "--teacher-model", "policy-ckpt"]  # fmt: skip
    assert run_pipeline.main(argv) == 0


def test_scripted_policy_gives_known_numbers_and_compare(tmp_path, capsys):
    data = _write_spar(tmp_path / "data")
    run_a, run_b = tmp_path / "a", tmp_path / "b"
    with ScriptedServer(_policy(PLAN_A)) as server:
        _run(run_a, data, server, tmp_path)
        assert len(server.chat_requests()) == 3 + 3 + 2 + 1 + 3 + 3
        assert all(r.body.get("temperature") == 0 for r in server.chat_requests())
    result = json.loads((run_a / "eval" / "spar_bench.json").read_text())

    relation = result["subtasks"]["relation"]
    assert relation["accuracy"]["mean"] == 0.5 and relation["accuracy"]["ci_method"] == "wilson"
    low, high = wilson_interval(2, 4)
    assert relation["accuracy"]["ci95"] == [round(low, 4), round(high, 4)]
    assert relation["behaviour"] == {
        "trajectories": 4,
        "reflective_share": 0.25,
        "reflective_by_kind": {"box_moved": 0.25, "line_moved": 0.0, "retargeted": 0.0},
        "mean_assistant_turns": 2.25,
        "mean_box_ops": 0.75,
        "mean_line_ops": 0.5,
        "termination": {"answered": 3, "no_action": 1},
        "format_valid_share": 0.75,
    }
    depth = result["subtasks"]["depth"]
    assert depth["accuracy"]["mean"] == 0.95 and depth["accuracy"]["ci_method"] == "bootstrap"
    assert depth["accuracy"]["ci95"][0] >= 0.9 and depth["accuracy"]["ci95"][1] <= 1.0
    assert depth["behaviour"]["mean_box_ops"] == 1.5 and depth["behaviour"]["mean_line_ops"] == 0.5
    overall = result["accuracy"]
    assert overall["questions"] == 6 and overall["mean"] == round((2 + 1.9) / 6, 4)
    assert result["behaviour"]["reflective_share"] == round(2 / 6, 4)
    # The malformed record and the unparsable line are errors, the free-form one is rejected.
    assert result["not_scored"] == {"errors": 2, "rejected": {"free_form_question": 1}}
    errors = [
        json.loads(line) for line in (run_a / "errors/evaluate.jsonl").read_text().splitlines()
    ]
    assert any(e["sample_id"] == "BAD1#0" and "'task'" in e["message"] for e in errors)
    assert any("not valid JSON" in e["message"] for e in errors)
    metrics = json.loads((run_a / "metrics.json").read_text())
    assert metrics["accounted"] and metrics["input"] == 9
    traj = (run_a / "eval/trajectories/spar_bench.jsonl").read_text().splitlines()
    assert len(traj) == 6

    # The report renders the evaluation: tables per benchmark and the trajectory viewer.
    assert run_pipeline.main(["--stage", "report", "--output", str(run_a)]) == 0
    page = (run_a / "report.html").read_text()
    assert '<section id="evaluation">' in page and "spar_bench: accuracy per sub-task" in page
    shown_data = json.loads(re.search(r'id="report-data">(.*?)</script>', page, re.S).group(1))
    shown = Counter((e["status"], e["reason"]) for e in shown_data["entries"])
    assert shown == {("evaluated", "correct"): 3, ("evaluated", "partial"): 1,
                     ("evaluated", "wrong"): 1, ("evaluated", "no_action"): 1,
                     ("rejected", "free_form_question"): 1}  # fmt: skip

    with ScriptedServer(_policy(PLAN_B)) as server:
        _run(run_b, data, server, tmp_path)
    capsys.readouterr()
    argv = ["--stage", "evaluate", "--compare", str(run_a), str(run_b)]
    assert run_pipeline.main(argv) == 0
    table = capsys.readouterr().out
    lines = {" ".join(line.split()[:3]): line for line in table.splitlines()}
    # relation: 0.5 -> 1.0; reflective 2/6 -> 3/6; box ops 6/6 -> 9/6 (R3 reflect, R4 plain)
    assert lines["spar_bench accuracy relation"].split()[-1] == "+100.0%"
    assert lines["spar_bench reflective trajectories"].split()[-1] == "+50.0%"
    assert lines["spar_bench box ops"].split()[-1] == "+50.0%"
    assert lines["spar_bench accuracy depth"].split()[-1] == "+0.0%"


def _row(q: str, sample: int, acc: float) -> EvalRow:
    return EvalRow("b", "t", q, sample, "multiple choice", acc, True, (), 1, 0, 0, "answered")


def test_k_samples_give_pass_at_1_mean_and_pass_at_k():
    rows = [_row("q1", 0, 1.0), _row("q1", 1, 0.0), _row("q2", 0, 0.0), _row("q2", 1, 0.0),
            _row("q3", 1, 1.0), _row("q3", 0, 0.0)]  # fmt: skip
    block = accuracy_block(rows, "b")
    assert block["mean"] == 0.3333 and block["pass@1"] == 0.3333 and block["pass@k"] == 0.6667
    assert block["ci_method"] == "bootstrap" and block == accuracy_block(rows, "b")
    assert block["questions"] == 3 and block["trajectories"] == 6


def test_wilson_interval_matches_the_closed_form():
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 0.0)


def test_evaluate_needs_a_policy_and_something_to_evaluate(tmp_path, capsys):
    with pytest.raises(SystemExit):
        run_pipeline.main(["--stage", "evaluate", "--output", str(tmp_path / "o")])
    assert "evaluate rolls out a policy" in capsys.readouterr().err


def test_maze_records_of_a_benchmark_get_the_maze_budget(tmp_path):
    from drawreason.inputs.benchmarks import BenchmarkConfig
    from drawreason.inputs.media import MediaConfig
    from drawreason.pipelines.evaluate import PrepareBenchmarkFn

    Image.new("RGB", (112, 112), (1, 2, 3)).save(tmp_path / "m.png")
    record = {"question": "How many moves?", "problem_type": "numerical", "image_path": "m.png",
              "solution": "<answer>4</answer>", "grid_size": 3, "data_type": "maze"}  # fmt: skip
    bench = BenchmarkConfig(format="vilasr_maze", path=str(tmp_path / "maze.json"))
    fn = PrepareBenchmarkFn((bench,), MediaConfig(), 1, maze_calls=20)
    (item,) = list(fn.process((0, 0, record)))
    assert item.subtask == "grid_3" and item.prepared.max_calls == 20
    (other,) = list(fn.process((0, 1, {**record, "data_type": "vqa"})))
    assert other.prepared.max_calls == 0  # the teacher's max_calls


def test_heldout_sets_are_fixed_by_seed_and_differ_from_training_questions():
    from drawreason.generators.oracle import generate_question
    from drawreason.pipelines.evaluate import EvaluateConfig, GenerateHeldoutFn
    from drawreason.schemas.config import build_config

    config = build_config(EvaluateConfig, {
        "heldout": {"maze_grid_sizes": [3, 5], "per_grid_size": 2, "scene_families": ["count"],
                    "per_family": 1},
        "teacher": {"kind": "openai", "model": "m", "endpoint": "http://127.0.0.1:1/v1"},
    })  # fmt: skip
    assert config.specs() == [
        ("heldout_maze", "grid_3", 0), ("heldout_maze", "grid_3", 1),
        ("heldout_maze", "grid_5", 2), ("heldout_maze", "grid_5", 3),
        ("heldout_scenes", "count", 0),
    ]  # fmt: skip
    assert config.heldout_seed != config.seed and config.policy.temperature == 0.0

    def made(spec):
        return [o for o in GenerateHeldoutFn(config).process(spec) if hasattr(o, "prepared")]

    (first,) = made(("heldout_maze", "grid_5", 2))
    (again,) = made(("heldout_maze", "grid_5", 2))
    assert first.prepared.pngs == again.prepared.pngs and first.prepared.item.grid_size == 5
    training = generate_question(
        "maze", 2, config.seed, config.generator_config("heldout_maze", "grid_5")
    )
    assert training.pngs != first.prepared.pngs  # same index and size, other seed: other maze
    (scene,) = made(("heldout_scenes", "count", 0))
    assert scene.subtask == "count" and scene.prepared.max_calls == config.scenes.max_calls


def test_heldout_evalset_lines_keep_the_heldout_images_out_of_training(tmp_path):
    from drawreason.filters.dedup import load_eval_set
    from drawreason.generators.oracle import generate_question
    from drawreason.inputs.prepare import PreparedItem
    from drawreason.pipelines.evaluate import EvaluateConfig, GenerateHeldoutFn
    from drawreason.pipelines.pool import question_print
    from drawreason.schemas.config import build_config

    config = build_config(EvaluateConfig, {
        "heldout": {"maze_grid_sizes": [4], "per_grid_size": 1},
        "teacher": {"kind": "openai", "model": "m", "endpoint": "http://127.0.0.1:1/v1"},
    })  # fmt: skip
    outputs = list(GenerateHeldoutFn(config).process(("heldout_maze", "grid_4", 0)))
    (line,) = [o.value[1][1] for o in outputs if getattr(o, "tag", "") == "evalset"]
    (held,) = [o.prepared for o in outputs if hasattr(o, "prepared")]
    assert "question" not in json.loads(line)  # templated text would match every maze
    path = tmp_path / "heldout_evalset.jsonl"
    path.write_text(line + "\n")
    eval_set = load_eval_set([str(path)], max_distance=0)
    assert eval_set.match(question_print(held))
    maze = config.generator_config("heldout_maze", "grid_4")
    training = generate_question("maze", 0, 0, maze)
    other = PreparedItem("maze", training.item, training.images, pngs=training.pngs)
    assert not eval_set.match(question_print(other))
