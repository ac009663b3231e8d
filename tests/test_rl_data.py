"""The rl_data stage: RL records both trainers read, Parquet with embedded images, dedup and
decontamination, and the pass-rate filter over policy samples from a loopback server."""

import io
import json
import re
import threading
from collections import Counter
from pathlib import Path

import datasets
import pytest
from drawreason.drawing.format import format_answer_turn
from drawreason.filters.dedup import hamming, image_phash
from drawreason.schemas.records import QAItem
from drawreason.schemas.rl import RLKeys, problem_text, to_rl_record
from PIL import Image, ImageEnhance

import run_pipeline
from tests.scripted_server import ScriptedServer, first_user_text


def _run(tmp_path: Path, config: dict, *more: str, out: str = "out") -> dict:
    path = tmp_path / f"{out}.json"
    path.write_text(json.dumps(config))
    argv = ["--stage", "rl_data", "--output", str(tmp_path / out), "--config", str(path), *more]
    assert run_pipeline.main(argv) == 0
    return json.loads((tmp_path / out / "metrics.json").read_text())


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_rl_record_keys_for_both_trainers():
    item = QAItem("q1", ("a", "b"), "Which view?", "multiple choice", "B", ("view 1", "B. view 2"))
    record = to_rl_record(item, ["images/aa/1.png", "images/bb/2.png"])
    assert record["question"] == "Which view?"
    assert record["problem"] == "<image><image>Which view?\nA. view 1\nB. view 2"
    assert record["image_path"] == record["images"] == ["images/aa/1.png", "images/bb/2.png"]
    assert record["grid_size"] is None and record["options"] == ["A. view 1", "B. view 2"]
    assert record["data_type"] == "video"  # two images: ViLaSR's multi-frame branch
    vilasr_only = to_rl_record(item, ["x", "y"], RLKeys(problem="", images=""))
    assert "problem" not in vilasr_only and "images" not in vilasr_only
    with pytest.raises(ValueError, match="multiple choice or numerical"):
        to_rl_record(QAItem("q2", ("a",), "Describe.", "free-form", "a cat"), ["x"])
    assert problem_text(QAItem("q3", ("a",), "How many?", "numerical", "3")) == "<image>How many?"


def test_generated_questions_become_jsonl_and_parquet(tmp_path):
    metrics = _run(tmp_path, {"num_samples": 12, "dedup": {"enabled": False}})
    out = tmp_path / "out"
    assert metrics["accounted"] and metrics["kept"] + metrics["errors"] == 12
    records = _lines(out / "rl/maze.jsonl")
    assert [r["id"] for r in records] == sorted(r["id"] for r in records) and len(records) == 6
    for record in records:
        assert isinstance(record["grid_size"], int) and record["data_type"] == "maze"
        assert record["problem"].count("<image>") == len(record["image_path"]) == 1
        assert all((out / "rl" / p).is_file() for p in record["image_path"])  # from the file
    ds = datasets.load_dataset("parquet", data_files=str(out / "rl/maze.parquet"), split="train")
    assert isinstance(ds.features["images"].feature, datasets.Image)
    assert ds["id"] == [r["id"] for r in records]
    first = ds[0]["images"][0]
    on_disk = Image.open(out / "rl" / records[0]["image_path"][0])
    assert (
        first.size == on_disk.size
        and first.convert("RGB").tobytes() == on_disk.convert("RGB").tobytes()
    )
    scenes = _lines(out / "rl/scenes.jsonl")
    assert scenes and all(r["grid_size"] is None for r in scenes)


def _write_png(path: Path, image: Image.Image) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def _photo(seed: int) -> Image.Image:
    """A structured image (gradients and blocks) whose pHash is stable under re-encoding."""
    image = Image.new("RGB", (224, 168), (seed * 40 % 255, 90, 160))
    for k in range(6):
        box = ((k * 37 + seed * 13) % 180, (k * 23 + seed * 7) % 120)
        shade = (k * 50 + seed * 30) % 255
        image.paste((shade, 255 - shade, (shade * 3) % 255), (*box, box[0] + 40, box[1] + 40))
    return image


def test_dedup_and_decontamination(tmp_path):
    data = tmp_path / "data"
    _write_png(data / "a.png", _photo(1))
    buffer = io.BytesIO()  # the same picture, 15% brighter, re-encoded lossily
    ImageEnhance.Brightness(_photo(1)).enhance(1.15).save(buffer, format="JPEG", quality=85)
    (data / "a_copy.jpg").write_bytes(buffer.getvalue())
    _write_png(data / "b.png", _photo(2))
    _write_png(data / "c.png", _photo(3))
    _write_png(data / "eval.png", _photo(4))
    _write_png(data / "d.png", _photo(4))  # the evaluation image, in our data
    long_q = "In the second view, which piece of furniture stands closest to the window?"
    rows = [
        ("q1", "a.png", "How many chairs are there?", "3"),
        ("q2", "a.png", "How many chairs are there?", "3"),  # exact duplicate of q1
        ("q3", "a_copy.jpg", "how many  chairs are there", "3"),  # near duplicate of q1
        ("q4", "b.png", "How many chairs are there?", "4"),  # same text, other image
        ("q5", "d.png", "How tall is the lamp?", "150"),  # its image is in the eval set
        ("q6", "c.png", long_q, "2"),  # its question is in the eval set
    ]
    with open(data / "qa.jsonl", "w") as handle:
        for rid, image, question, answer in rows:
            handle.write(
                json.dumps(
                    {
                        "id": rid,
                        "images": [image],
                        "question": question,
                        "question_type": "numerical",
                        "answer": answer,
                    }
                )
                + "\n"
            )
    (data / "bench.jsonl").write_text(
        json.dumps({"question": "How tall is it?", "images": ["eval.png"]})
        + "\n"
        + json.dumps({"question": long_q.upper()})
        + "\n"
    )
    near = hamming(image_phash(_photo(1)), image_phash(Image.open(data / "a_copy.jpg")))
    assert 0 < near <= 4  # near, not equal: within the default max_distance
    config = {"num_samples": 0, "dedup": {"eval_sets": [str(data / "bench.jsonl")]}}
    metrics = _run(tmp_path, config, "--input", str(data / "qa.jsonl"))
    assert metrics["accounted"] and metrics["subsets"]["qa"]["input"] == 6
    kept = [r["id"] for r in _lines(tmp_path / "out/rl/qa.jsonl")]
    assert kept == ["q1", "q4"]
    rejected = {r["sample_id"]: r for r in _lines(tmp_path / "out/rejected/rl_data/qa.jsonl")}
    assert {k: r["reason"] for k, r in rejected.items()} == {
        "q2": "duplicate",
        "q3": "near_duplicate",
        "q5": "eval_image",
        "q6": "eval_question",
    }
    assert rejected["q3"]["detail"] == "same question as qa/q1"
    assert metrics["rejected"] == {
        "duplicate": 1,
        "near_duplicate": 1,
        "eval_image": 1,
        "eval_question": 1,
    }


class _Policy:
    """Answers at once; per question tag, the first `right[tag]` samples answer correctly."""

    def __init__(self, right: dict[str, int], answers: dict[str, str]) -> None:
        self.right = right
        self.answers = answers
        self.seen: Counter = Counter()
        self.lock = threading.Lock()

    def __call__(self, messages):
        tag = re.search(r"\[(P\w+)\]", first_user_text(messages)).group(1)
        with self.lock:
            n = self.seen[tag]
            self.seen[tag] += 1
        truth = self.answers[tag]
        answer = truth if n < self.right[tag] else str(int(truth) + 7)
        return format_answer_turn("I count them.", answer)


def test_pass_rate_drops_always_right_and_always_wrong(tmp_path):
    data = tmp_path / "data"
    for n in range(3):
        _write_png(data / f"{n}.png", _photo(n + 10))
    tags = {"Peasy": 4, "Pmid": 2, "Phard": 0}
    with open(data / "qa.jsonl", "w") as handle:
        for n, tag in enumerate(tags):
            handle.write(
                json.dumps(
                    {
                        "id": tag,
                        "images": [f"{n}.png"],
                        "question": f"[{tag}] How many boxes?",
                        "question_type": "numerical",
                        "answer": "5",
                    }
                )
                + "\n"
            )
    policy = _Policy(tags, {tag: "5" for tag in tags})
    config = {"num_samples": 0, "pass_rate": {"enabled": True, "samples": 4}}
    with ScriptedServer(policy) as server:
        metrics = _run(
            tmp_path,
            config,
            "--input",
            str(data / "qa.jsonl"),
            "--teacher",
            "openai",
            "--teacher-endpoint",
            server.base_url,
            "--teacher-model",
            "policy",
        )
        assert len(server.requests) == 12
    assert [r["id"] for r in _lines(tmp_path / "out/rl/qa.jsonl")] == ["Pmid"]
    rejected = {r["sample_id"]: r for r in _lines(tmp_path / "out/rejected/rl_data/qa.jsonl")}
    assert rejected["Peasy"]["reason"] == "too_easy" and rejected["Phard"]["reason"] == "too_hard"
    assert rejected["Peasy"]["detail"] == "4 of 4 counted samples right (4 sampled)"
    assert metrics["subsets"]["qa"]["pass_rate"] == {"0.000": 1, "0.500": 1, "1.000": 1}
    assert metrics["teacher_usage"]["teacher_requests"] == 12
    rollouts = _lines(tmp_path / "out/rollouts/rl_data/qa.jsonl")
    assert sorted(r["item"]["id"] for r in rollouts) == sorted(
        f"{tag}#{s}" for tag in tags for s in range(4)
    )


def test_pass_rate_needs_a_policy(tmp_path, capsys):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"pass_rate": {"enabled": True}}))
    with pytest.raises(SystemExit):
        run_pipeline.main(
            ["--stage", "rl_data", "--output", str(tmp_path / "o"), "--config", str(path)]
        )
    assert "pass_rate needs a policy model" in capsys.readouterr().err


def test_rl_format_verl_writes_verl_rows_for_every_question(tmp_path):
    import pyarrow.parquet as pq
    from drawreason.integrations.session import TOOL_ACTIONS
    from drawreason.integrations.verl.data import AGENT_NAME

    config = {"num_samples": 8, "dedup": {"enabled": False}, "rl_format": "verl"}
    metrics = _run(tmp_path, config)
    out = tmp_path / "out"
    assert metrics["accounted"] and metrics["kept"] + metrics["errors"] == 8
    assert not list(out.glob("rl/*.parquet"))  # verl's rows instead of the RL Parquet
    seen = []
    for subset in ("maze", "scenes"):
        records = {r["id"]: r for r in _lines(out / f"rl/{subset}.jsonl")}
        rows = pq.read_table(out / f"verl/{subset}.parquet").to_pylist()
        assert [row["extra_info"]["item_id"] for row in rows] == sorted(records)
        for i, row in enumerate(rows):
            record, extra = records[row["extra_info"]["item_id"]], row["extra_info"]
            assert row["data_source"] == f"drawreason/{subset}" and row["agent_name"] == AGENT_NAME
            assert row["reward_model"] == {"style": "rule", "ground_truth": record["answer"]}
            system, user = row["prompt"]
            assert system["role"] == "system" and user["role"] == "user"
            assert user["content"].count("<image>") == len(row["images"]) == len(record["images"])
            decoded = [Image.open(io.BytesIO(im["bytes"])) for im in row["images"]]
            assert all(im.format == "PNG" for im in decoded)
            assert extra["image_sizes"] == [list(im.size) for im in decoded]
            assert (extra["index"], extra["subset"]) == (i, subset)
            assert extra["question_type"] == record["question_type"]
            assert extra["options"] == record["options"] and extra["max_images"] == 42
            assert extra["grid_size"] == record["grid_size"]
            # a maze's own turn budget, else the teacher's default; the system prompt states it
            assert extra["max_calls"] >= 1 and (subset == "maze" or extra["max_calls"] == 10)
            assert str(extra["max_calls"]) in system["content"]
            assert set(extra["tools_kwargs"]) == set(TOOL_ACTIONS)
            for kwargs in extra["tools_kwargs"].values():
                create = kwargs["create_kwargs"]
                assert create == {k: extra[k] for k in create} and len(create) == 5
        seen += rows
    assert len(seen) == metrics["kept"]
