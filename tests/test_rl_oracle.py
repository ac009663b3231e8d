"""Oracle facts in RL rows: rl_data writes them for generated questions (none for real data),
and every reward entry point reads them from the row as its trainer passes it and scores
grounding (docs/reward.md, "Grounding in RL")."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from drawreason.drawing.format import format_tool_turn
from drawreason.drawing.prompts import Prompts
from drawreason.filters.grounding import box_iou
from drawreason.generators.maze import MazeConfig
from drawreason.generators.oracle import build_oracle_sample, generate_question
from drawreason.generators.scenes import SceneConfig
from drawreason.integrations.verl import reward as verl_reward
from drawreason.schemas.oracle import (
    MazeOracle,
    SceneOracle,
    oracle_from_dict,
    oracle_json,
    resize_oracle,
)
from drawreason.schemas.records import Provenance
from drawreason.schemas.rl import reward_truth, split_reward_truth
from drawreason.trainer import easyr1_reward
from drawreason.trainer.reward import (
    GROUNDING_WEIGHT_ENV,
    compute_score,
    trajectory_response,
    trajectory_sequence,
)
from PIL import Image

import run_pipeline

SEED, SALT = 0, "rl_data"  # the stage's defaults: the questions the runs below draw
CONFIGS = {"maze": MazeConfig(), "scenes": SceneConfig()}


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _run(base: Path, name: str, config: dict, data: Path) -> Path:
    path = base / f"{name}.json"
    path.write_text(json.dumps(config))
    out = base / name
    argv = ["--stage", "rl_data", "--output", str(out), "--config", str(path)]
    assert run_pipeline.main([*argv, "--input", str(data / "qa.jsonl")]) == 0
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """One default-profile run and one verl run over the same 6 generated questions (2 mazes,
    4 scenes) and 1 real question."""
    base = tmp_path_factory.mktemp("rl_oracle")
    data = base / "data"
    data.mkdir()
    Image.new("RGB", (224, 168), (30, 90, 160)).save(data / "a.png")
    real = {
        "id": "r1",
        "images": ["a.png"],
        "question": "Which side is the lamp on?",
        "question_type": "multiple choice",
        "options": ["left", "right"],
        "answer": "B",
    }
    (data / "qa.jsonl").write_text(json.dumps(real) + "\n")
    config = {"num_samples": 6, "mix": {"maze": 1, "scenes": 2}, "dedup": {"enabled": False}}
    return {
        "default": _run(base, "default", config, data),
        "verl": _run(base, "verl", {**config, "rl_format": "verl"}, data),
    }


def _question(item_id: str):
    subset, _, index = item_id.rpartition("-")
    subset = subset.removesuffix(f"-{SALT}")
    return generate_question(subset, int(index), SEED, CONFIGS[subset], salt=SALT, with_oracle=True)


def test_generated_rows_carry_their_oracle_facts_and_real_rows_none(runs):
    out = runs["default"]
    generated = 0
    for subset, kind in (("maze", MazeOracle), ("scenes", SceneOracle)):
        records = _lines(out / f"rl/{subset}.jsonl")
        table = {r["id"]: r for r in pq.read_table(out / f"rl/{subset}.parquet").to_pylist()}
        for record in records:
            answer, facts = split_reward_truth(record["reward_truth"])
            assert answer == record["answer"] and facts is not None
            oracle = oracle_from_dict(facts)
            assert isinstance(oracle, kind)
            # the images are 448 px, which the trainer keeps: the generator's own facts
            assert oracle == _question(record["id"]).item.oracle
            assert table[record["id"]]["reward_truth"] == record["reward_truth"]
            generated += 1
    assert generated == 6
    (real,) = _lines(out / "rl/qa.jsonl")
    assert real["reward_truth"] == real["answer"] == "B"
    assert split_reward_truth(real["reward_truth"]) == ("B", None)
    # verl: the facts in extra_info, the ground truth the plain answer
    rows = [
        row
        for subset in ("maze", "scenes", "qa")
        for row in pq.read_table(runs["verl"] / f"verl/{subset}.parquet").to_pylist()
    ]
    assert len(rows) == 7
    for row in rows:
        extra = row["extra_info"]
        if extra["subset"] == "qa":
            assert extra["oracle"] == "" and row["reward_model"]["ground_truth"] == "B"
            continue
        item = _question(extra["item_id"]).item
        assert extra["oracle"] == oracle_json(item.oracle)
        assert "{" not in row["reward_model"]["ground_truth"]


def test_facts_follow_the_images_when_the_trainer_size_differs():
    item = _question(f"scenes-{SALT}-00000000").item
    small = resize_oracle(item.oracle, [(448, 448)], [(224, 224)])
    assert (small.views[0].width, small.views[0].height) == (224, 224)
    for big, half in zip(item.oracle.views[0].objects, small.views[0].objects, strict=True):
        assert half.box == pytest.approx([v / 2 for v in big.box])
    maze = _question(f"maze-{SALT}-00000000").item.oracle
    assert resize_oracle(maze, [(448, 448)], [(336, 336)]).axes == pytest.approx(
        [v * 0.75 for v in maze.axes]
    )
    assert reward_truth("B") == "B"
    with pytest.raises(ValueError, match="expected keys"):
        split_reward_truth('{"answer": "B"}')


def _trajectories(row_id: str):
    """The oracle trace of a scene question (grounded, correct), and the same trace with its
    first box moved onto another object (drawn text re-rendered); None for a reflective trace
    or when every other object overlaps the true box too much to make a wrong one."""
    index = int(row_id.rpartition("-")[2])
    provenance = Provenance("generator:test", "cfg", 0, "test")
    bundle = build_oracle_sample(
        "scenes", index, SEED, CONFIGS["scenes"], Prompts.load(None), provenance,
        salt=SALT, with_oracle=True,
    )  # fmt: skip
    good = bundle.trajectory
    assert good.item.id == row_id
    if good.meta.get("reflective"):  # a staged mistake: not fully grounded by design
        return None
    first = good.turns[0]
    op = first.operations[0]
    view = good.item.oracle.views[op.index - 1]
    others = [o for o in view.objects if o.name != op.label]
    if not others:
        return None
    other = min(others, key=lambda o: box_iou(op.bbox_2d, o.box))
    if box_iou(op.bbox_2d, other.box) >= 0.5:
        return None
    ops = (dataclasses.replace(op, bbox_2d=tuple(round(v) for v in other.box)),)
    ops += first.operations[1:]
    moved = dataclasses.replace(
        first, operations=ops, raw=format_tool_turn(first.think, ops)
    )  # fmt: skip
    return good, dataclasses.replace(good, turns=(moved, *good.turns[1:]))


def _no_special_tokens(text: str) -> str:
    """A response decoded with skip_special_tokens=True, as verl's reward managers decode it."""
    for token in ("<|im_start|>", "<|im_end|>", "<|endoftext|>"):
        text = text.replace(token, "")
    return text


def _entry_points(runs):
    """(name, score(trajectory, weight) -> scores) for each trainer's reward entry point, fed
    with a scene row exactly as that trainer passes it."""
    record = next(r for r in _lines(runs["default"] / "rl/scenes.jsonl") if _trajectories(r["id"]))
    verl_row = next(
        row
        for row in pq.read_table(runs["verl"] / "verl/scenes.parquet").to_pylist()
        if row["extra_info"]["item_id"] == record["id"]
    )

    def vilasr(trajectory, weight, monkeypatch):
        # its reward manager: compute_score(predict_str, ground_truth, question_type, data_type)
        # with the answer key pointed at `reward_truth`; the weight from the environment
        monkeypatch.setenv(GROUNDING_WEIGHT_ENV, str(weight))
        return compute_score(
            trajectory_sequence(trajectory),
            record["reward_truth"],
            record["question_type"],
            record["data_type"],
        )

    def easyr1(trajectory, weight, monkeypatch):
        response = trajectory_response(trajectory)
        inputs = [
            {"response": response, "response_length": 1, "ground_truth": record["reward_truth"]}
        ]
        (scores,) = easyr1_reward.compute_score(inputs, "acc_gated", grounding_weight=weight)
        return scores

    def verl(trajectory, weight, monkeypatch):
        scores = verl_reward.compute_score(
            data_source=verl_row["data_source"],
            solution_str=_no_special_tokens(trajectory_response(trajectory)),
            ground_truth=verl_row["reward_model"]["ground_truth"],
            extra_info=verl_row["extra_info"],
            grounding_weight=weight,
        )
        assert scores["score"] == scores["overall"]
        return scores

    return record["id"], {"vilasr": vilasr, "easyr1": easyr1, "verl": verl}


@pytest.mark.parametrize("entry", ["vilasr", "easyr1", "verl"])
def test_reward_entry_points_score_grounding_from_the_row(runs, entry, monkeypatch):
    row_id, entries = _entry_points(runs)
    good, wrong_box = _trajectories(row_id)
    score = entries[entry]
    grounded = score(good, 0.0, monkeypatch)
    assert grounded["grounding"] == 1.0 and grounded["accuracy"] == 1.0
    assert score(good, 0.5, monkeypatch)["overall"] == grounded["overall"] == 2.0
    plain = score(wrong_box, 0.0, monkeypatch)
    weighted = score(wrong_box, 0.5, monkeypatch)
    assert plain["accuracy"] == 1.0 and plain["grounding"] < 1.0  # right answer, wrong box
    assert plain["overall"] == grounded["overall"]  # the weight is what tells them apart
    assert weighted["overall"] == pytest.approx(2.0 - 0.5 * (1 - plain["grounding"]))
    assert weighted["overall"] < plain["overall"]


def test_real_rows_score_exactly_as_before(runs, monkeypatch):
    """A row without facts: no grounding term whatever the weight (verl logs 0.0 beside)."""
    (record,) = _lines(runs["default"] / "rl/qa.jsonl")
    response = "<think>The lamp is on the right.</think><answer>B</answer><|im_end|>"
    before = compute_score(response, record["answer"], record["question_type"])
    monkeypatch.setenv(GROUNDING_WEIGHT_ENV, "0.5")
    assert compute_score(response, record["reward_truth"], record["question_type"]) == before
    item = {"response": response, "response_length": 1, "ground_truth": record["reward_truth"]}
    assert easyr1_reward.compute_score(item, grounding_weight=0.5) == before
    (row,) = pq.read_table(runs["verl"] / "verl/qa.parquet").to_pylist()
    scores = verl_reward.compute_score(
        row["data_source"], response, row["reward_model"]["ground_truth"], row["extra_info"],
        grounding_weight=0.5,
    )  # fmt: skip
    assert scores == {"score": before["overall"], "grounding": 0.0, **before}


def test_easyr1_handoff_reads_reward_truth_with_the_weight_off(runs, tmp_path):
    import yaml
    from drawreason.trainer.handoff import write_handoff

    written = write_handoff(runs["default"], tmp_path / "configs")
    config = yaml.safe_load(Path(written["stage3"]).read_text())
    assert config["data"]["answer_key"] == "reward_truth"
    assert config["worker"]["reward"]["reward_function_kwargs"]["grounding_weight"] == 0.0
    # a run without the column (written before it, or `keys` left it out) reads `answer`
    old = tmp_path / "old"
    (old / "rl").mkdir(parents=True)
    record = {k: v for k, v in _lines(runs["default"] / "rl/qa.jsonl")[0].items()}
    del record["reward_truth"]
    (old / "rl/qa.jsonl").write_text(json.dumps(record) + "\n")
    written = write_handoff(old, tmp_path / "old_configs")
    assert yaml.safe_load(Path(written["stage3"]).read_text())["data"]["answer_key"] == "answer"


def test_grpo_and_trl_rewards_are_the_reward_files_with_the_same_weight(runs):
    """Our GRPO trainer (an RL record's `reward_truth`, read into RLSample.oracle) and the TRL
    reward (a verl row reshaped for TRL: its `oracle` column) score a row with oracle facts
    exactly as trainer/reward.py's compute_score with the same weight on the same text."""
    from drawreason.integrations.trl.data import trl_row
    from drawreason.integrations.trl.environment import DrawingReward
    from drawreason.trainer.data import load_rl_samples
    from drawreason.trainer.grpo import GRPOConfig, rollout_scores

    row_id, _ = _entry_points(runs)
    record = next(r for r in _lines(runs["default"] / "rl/scenes.jsonl") if r["id"] == row_id)
    (sample,) = [s for s in load_rl_samples(runs["default"]) if s.id == row_id]
    assert sample.oracle == oracle_from_dict(split_reward_truth(record["reward_truth"])[1])
    verl_row = next(
        row
        for row in pq.read_table(runs["verl"] / "verl/scenes.parquet").to_pylist()
        if row["extra_info"]["item_id"] == row_id
    )
    row = trl_row(verl_row)
    assert row["oracle"] == verl_row["extra_info"]["oracle"] != ""
    good, wrong_box = _trajectories(row_id)
    overall = {}
    for name, trajectory in (("good", good), ("wrong_box", wrong_box)):
        response = trajectory_response(trajectory)
        for weight in (0.0, 0.5):
            reference = compute_score(
                response,
                record["reward_truth"],
                record["question_type"],
                record["data_type"],
                grounding_weight=weight,
            )
            assert rollout_scores(response, sample, GRPOConfig(grounding_weight=weight)) == (
                reference
            )
            trl = DrawingReward(None, grounding_weight=weight)  # score() needs no tokenizer
            args = (row["ground_truth"], row["question_type"], row["data_type"], row["oracle"])
            assert trl.score(response, *args) == reference["overall"]
            overall[name, weight] = reference["overall"]
    # the weight is what tells a wrong box from a right one; off by default
    assert overall["wrong_box", 0.5] < overall["wrong_box", 0.0] == overall["good", 0.5]
    response = trajectory_response(wrong_box)
    assert rollout_scores(response, sample, GRPOConfig())["overall"] == overall["wrong_box", 0.0]
    assert DrawingReward(None).score(response, *args) == overall["wrong_box", 0.0]


def test_grpo_and_trl_score_real_rows_without_a_grounding_term(runs):
    from drawreason.integrations.trl.data import trl_row
    from drawreason.integrations.trl.environment import DrawingReward
    from drawreason.trainer.data import load_rl_samples
    from drawreason.trainer.grpo import GRPOConfig, rollout_scores

    (sample,) = [s for s in load_rl_samples(runs["default"]) if s.id == "r1"]
    assert sample.oracle is None
    (verl_row,) = pq.read_table(runs["verl"] / "verl/qa.parquet").to_pylist()
    row = trl_row(verl_row)
    assert row["oracle"] == ""
    response = "<think>The lamp is on the right.</think><answer>B</answer><|im_end|>"
    before = compute_score(response, "B", "multiple choice")
    assert rollout_scores(response, sample, GRPOConfig(grounding_weight=0.5)) == before
    args = (row["ground_truth"], row["question_type"], row["data_type"], row["oracle"])
    assert DrawingReward(None, grounding_weight=0.5).score(response, *args) == before["overall"]


def test_grpo_and_trl_refuse_a_negative_weight_and_a_mismatched_reward_truth(tmp_path):
    from drawreason.integrations.trl.environment import DrawingReward
    from drawreason.trainer.data import load_rl_samples
    from drawreason.trainer.grpo import GRPOConfig

    with pytest.raises(ValueError, match="grounding_weight"):
        GRPOConfig(grounding_weight=-0.1)
    with pytest.raises(ValueError, match="grounding_weight"):
        DrawingReward(None, grounding_weight=-0.1)
    record = {
        "id": "m1",
        "question": "q",
        "image_path": ["a.png"],
        "answer": "B",
        "reward_truth": reward_truth("C", '{"kind":"scene","views":[]}'),
        "question_type": "multiple choice",
    }
    path = tmp_path / "rl.jsonl"
    path.write_text(json.dumps(record) + "\n")
    Image.new("RGB", (28, 28)).save(tmp_path / "a.png")
    with pytest.raises(ValueError, match="is not its answer"):
        load_rl_samples(path)


def test_grpo_step_log_means_grounding_over_questions_with_facts_only():
    from drawreason.trainer.data import RLSample
    from drawreason.trainer.grpo import PolicyRollout, _grounding_mean

    sample = RLSample("q", "q", (), "B", "multiple choice", "vqa", ("a.png",))

    def rollout(scores: dict) -> PolicyRollout:
        return PolicyRollout(conv=None, sample=sample, group=0, scores=scores)

    real = rollout({"overall": 2.0})
    assert _grounding_mean([real]) == {}  # no facts, no key: a real-data run logs as before
    generated = [rollout({"grounding": 1.0}), rollout({"grounding": 0.5})]
    assert _grounding_mean([real, *generated]) == {"grounding": 0.75}
