"""The reflective_data stage against a scripted policy on loopback: correct and reflective
trajectories kept, capped per question, every sampled trajectory accounted for."""

import json
import re
import threading
from collections import Counter
from pathlib import Path

import pytest
from drawreason.drawing.format import format_answer_turn, format_tool_turn
from drawreason.pipelines.outcomes import KEPT, Outcome
from drawreason.pipelines.reflective import CapFn
from drawreason.schemas.records import BoxOp, LineOp, rejection_from_dict
from drawreason.schemas.sharegpt import validate_sharegpt
from PIL import Image

import run_pipeline
from tests.scripted_server import ScriptedServer, assistant_turns, first_user_text

VARIANTS = {
    "reflect_right": ["box", "box_again", "5"],
    "reflect_wrong": ["box", "box_again", "9"],
    "plain_right": ["box", "line", "5"],
}
PLAN = {  # per question: the variant of each of its K=4 samples, in request order
    "R1": ["reflect_right", "reflect_right", "reflect_right", "plain_right"],
    "N1": ["plain_right", "reflect_wrong", "plain_right", "plain_right"],
}


class _Policy:
    """Turn 1 picks the next variant of the question's plan and names it in its thinking;
    later turns read the variant back from the first assistant message."""

    def __init__(self) -> None:
        self.seen: Counter = Counter()
        self.lock = threading.Lock()

    def __call__(self, messages):
        tag = re.search(r"\[(\w+)\]", first_user_text(messages)).group(1)
        turn = assistant_turns(messages)
        if turn == 0:
            with self.lock:
                variant = PLAN[tag][self.seen[tag]]
                self.seen[tag] += 1
        else:
            first = next(m for m in messages if m["role"] == "assistant")["content"]
            variant = re.search(r"variant (\w+)", first).group(1)
        step = VARIANTS[variant][turn]
        if step == "box":
            return format_tool_turn(
                f"variant {variant}: box the cup.", [BoxOp(1, (4, 4, 30, 30), "cup")]
            )
        if step == "box_again":
            return format_tool_turn(
                "That box is off; redraw it.", [BoxOp(2, (8, 8, 40, 40), "cup")]
            )
        if step == "line":
            return format_tool_turn("Measure it.", [LineOp(2, (4, 4), (40, 40), "height")])
        return format_answer_turn("Counted.", step)


def _write_data(root: Path) -> None:
    root.mkdir(parents=True)
    with open(root / "qa.jsonl", "w") as handle:
        for n, tag in enumerate(PLAN):
            Image.new("RGB", (112, 84), (40 * n, 90, 200)).save(root / f"{tag}.png")
            record = {
                "id": tag,
                "images": [f"{tag}.png"],
                "question": f"[{tag}] How many cups?",
                "question_type": "numerical",
                "answer": "5",
            }
            handle.write(json.dumps(record) + "\n")


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_reflective_sampling_end_to_end(tmp_path):
    data = tmp_path / "data"
    _write_data(data)
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"num_samples": 0, "teacher": {"samples_per_item": 4}}))
    out = tmp_path / "out"
    with ScriptedServer(_Policy()) as server:
        argv = [
            "--stage",
            "reflective_data",
            "--output",
            str(out),
            "--config",
            str(config),
            "--input",
            str(data / "qa.jsonl"),
            "--teacher",
            "openai",
            "--teacher-endpoint",
            server.base_url,
            "--teacher-model",
            "cold-start-ckpt",
        ]
        assert run_pipeline.main(argv) == 0
        assert len(server.requests) == 8 * 3  # 2 questions x 4 samples x 3 turns

    metrics = json.loads((out / "metrics.json").read_text())
    entry = metrics["subsets"]["qa"]
    assert metrics["accounted"] and entry["input"] == 8
    assert entry["kept"] == 2  # three correct reflective samples of R1, capped at 2
    assert entry["rejected"] == {"question_cap": 1, "not_reflective": 4, "wrong_answer": 1}
    assert entry["sampled"] == 8 and entry["sampled_reflection_rate"] == 0.5
    assert entry["reflection"] == {"box_moved": 2}

    kept = _lines(out / "sft/reflective/qa.jsonl")
    assert [r["id"].split("#")[0] for r in kept] == ["R1", "R1"]
    for record in kept:
        validate_sharegpt(record)
        assert len(record["images"]) == 3
    full = _lines(out / "trajectories/reflective/qa.jsonl")
    assert {r["item"]["id"] for r in full} == {r["id"] for r in kept}
    assert all(r["provenance"]["producer"] == "policy:openai:cold-start-ckpt" for r in full)
    rejected = [rejection_from_dict(r) for r in _lines(out / "rejected/reflective/qa.jsonl")]
    capped = [r for r in rejected if r.reason == "question_cap"]
    assert len(capped) == 1 and capped[0].trajectory.meta["question_id"] == "R1"
    info = json.loads((out / "dataset_info.json").read_text())
    assert info["reflective_qa"]["file_name"] == "sft/reflective/qa.jsonl"


def _kept(sample_id: str, kind: str) -> Outcome:
    return Outcome(KEPT, "reflective", "s", sample_id, "{}", reflections=(kind,))


def test_cap_keeps_a_stable_hash_ordered_subset():
    outcomes = [_kept(f"q#{n}", "box_moved") for n in range(5)]
    first = list(CapFn(2, "balance_cap").process(("s/box_moved", outcomes)))
    again = list(CapFn(2, "balance_cap").process(("s/box_moved", list(reversed(outcomes)))))
    kept = [o.sample_id for o in first if isinstance(o, Outcome)]
    assert len(kept) == 2 and kept == [o.sample_id for o in again if isinstance(o, Outcome)]
    rejected = [o.value for o in first if not isinstance(o, Outcome)]
    assert [r.reason for r in rejected] == ["balance_cap"] * 3


def test_reflective_data_needs_a_policy(tmp_path, capsys):
    with pytest.raises(SystemExit):
        run_pipeline.main(["--stage", "reflective_data", "--output", str(tmp_path / "o")])
    assert "samples from a policy model" in capsys.readouterr().err
