"""cold_start_data with real-data inputs and a teacher behind a loopback OpenAI-compatible
server: every record accounted for, kept shards valid, usage in metrics, resume after kill -9."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from drawreason.schemas.records import rejection_from_dict
from drawreason.schemas.sharegpt import validate_sharegpt

import run_pipeline
from tests.realdata import build_dataset, script_for
from tests.scripted_server import ScriptedServer, first_user_text, response_id

ROOT = Path(__file__).resolve().parent.parent


def _config(tmp_path: Path, **extra) -> Path:
    path = tmp_path / "config.json"
    data = {"mix": {"maze": 1.0}, "media": {"max_input_pixels": 500_000}, **extra}
    path.write_text(json.dumps(data))
    return path


def _argv(out: Path, config: Path, data: Path, *more: str) -> list[str]:
    return [
        "--stage",
        "cold_start_data",
        "--output",
        str(out),
        "--num-samples",
        "2",
        "--config",
        str(config),
        "--input",
        str(data / "qa.jsonl"),
        *more,
    ]


def _teacher(server: ScriptedServer) -> list[str]:
    return [
        "--teacher",
        "openai",
        "--teacher-endpoint",
        server.base_url,
        "--teacher-model",
        "scripted-vlm",
    ]


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


RUN_RECORDS = ("run.json", "config.json", "metrics.json")  # this run's timings, endpoint, usage


def _outputs(out: Path) -> dict[str, bytes]:
    """Every data file (shards, rejections, errors, images, dataset_info) by relative path;
    metrics.json is compared without its teacher usage, which is per run."""
    files = {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name not in RUN_RECORDS and "cache" not in p.relative_to(out).parts
    }
    metrics = json.loads((out / "metrics.json").read_text())
    metrics.pop("elapsed_s", None)
    metrics.pop("teacher_usage")
    for entry in metrics["subsets"].values():
        entry.pop("teacher_usage", None)
    files["metrics.json"] = json.dumps(metrics, sort_keys=True).encode()
    return files


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("realdata") / "data"
    root.mkdir()
    return root, build_dataset(root)


def test_every_record_lands_where_it_should(dataset, tmp_path):
    data, expect = dataset
    out = tmp_path / "out"
    with ScriptedServer(script_for(expect)) as server:
        assert run_pipeline.main(_argv(out, _config(tmp_path), data, *_teacher(server))) == 0
        first_requests = len(server.requests)

    kept = {r["id"]: r for r in _lines(out / "sft/cold_start/qa.jsonl")}
    rejected = {
        r.sample_id: r
        for r in map(rejection_from_dict, _lines(out / "rejected/cold_start/qa.jsonl"))
    }
    errors = {r["sample_id"]: r for r in _lines(out / "errors/cold_start.jsonl")}
    for tag, spec in expect.items():
        key = f"{tag}#0"
        if spec["outcome"] == "kept":
            record = kept[key]
            validate_sharegpt(record)
            # inputs (16 video frames for the video) + one rendered image per drawing turn
            assert len(record["images"]) == spec["images"] + 2, tag
            assert all((out / image).is_file() for image in record["images"])
        elif spec["outcome"] == "error":
            assert errors[key]["step"] == "prepare", tag
        else:
            assert rejected[key].reason == spec["outcome"], (tag, rejected[key])
    assert len(kept) + len(rejected) + len(errors) == len(expect)

    # The stored inputs are what the teacher saw: smart-resized, sides multiples of 28.
    multi = next(
        r for r in _lines(out / "rejected/cold_start/qa.jsonl") if r["sample_id"] == "Qwrong#0"
    )
    assert all(w % 28 == 0 and h % 28 == 0 for w, h in multi["trajectory"]["input_sizes"])
    assert multi["trajectory"]["provenance"]["producer"] == "teacher:openai:scripted-vlm"

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["accounted"] and metrics["subsets"]["qa"]["input"] == len(expect)
    assert metrics["subsets"]["qa"]["kept"] == 4 and metrics["subsets"]["maze"]["kept"] == 2
    # 5 rolled-out items x 3 turns each
    assert metrics["teacher_usage"]["teacher_requests"] == first_requests == 15
    assert metrics["teacher_usage"]["prompt_tokens"] > 0
    info = json.loads((out / "dataset_info.json").read_text())
    assert info["cold_start_qa"]["file_name"] == "sft/cold_start/qa.jsonl"
    # Kept teacher trajectories keep their full record: every turn's request and raw reply.
    full = {r["item"]["id"]: r for r in _lines(out / "trajectories/cold_start/qa.jsonl")}
    assert set(full) == set(kept)
    logs = full["Qmulti#0"]["meta"]["turn_logs"]
    assert [len(log["request"]["image_sha256"]) for log in logs] == [3, 4, 5]
    assert all(log["raw_reply"]["choices"] for log in logs)

    # Same command again: every reply comes from the cache, outputs are byte-identical.
    before = _outputs(out)
    with ScriptedServer(script_for(expect)) as server:
        assert run_pipeline.main(_argv(out, _config(tmp_path), data, *_teacher(server))) == 0
        assert server.requests == []
    assert _outputs(out) == before
    again = json.loads((out / "metrics.json").read_text())
    assert again["teacher_usage"]["cache_hits"] == 15
    assert "teacher_requests" not in again["teacher_usage"]


def test_without_a_teacher_the_inputs_are_skipped_with_a_note(dataset, tmp_path, capsys):
    data, _ = dataset
    out = tmp_path / "out"
    assert run_pipeline.main(_argv(out, _config(tmp_path), data)) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["subsets"]) == {"maze"}
    assert metrics["skipped_sources"] == [
        {
            "subset": "qa",
            "source": f"generic:{data / 'qa.jsonl'}",
            "reason": "no teacher configured (pass --teacher openai|vllm and --teacher-model)",
        }
    ]
    assert "skipped generic:" in capsys.readouterr().out


def test_a_missing_source_stops_before_the_run(tmp_path, capsys):
    argv = [
        "--stage",
        "cold_start_data",
        "--output",
        str(tmp_path / "out"),
        "--input",
        f"vilasr:{tmp_path / 'none.json'}",
        "--teacher",
        "openai",
        "--teacher-endpoint",
        "http://127.0.0.1:9/v1",
        "--teacher-model",
        "m",
    ]
    with pytest.raises(SystemExit):
        run_pipeline.main(argv)
    assert f"input vilasr:{tmp_path / 'none.json'}: no such file" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_teacher_flags_are_checked(tmp_path, capsys):
    argv = [
        "--stage",
        "cold_start_data",
        "--output",
        str(tmp_path / "o"),
        "--teacher",
        "openai",
        "--teacher-model",
        "m",
    ]
    with pytest.raises(SystemExit):
        run_pipeline.main(argv)
    assert "teacher openai needs an endpoint" in capsys.readouterr().err


def _cached_replies(cache: Path) -> dict[str, str]:
    """{response id: reply text} of every complete cache entry. The scripted server's response
    id is a digest of the request body, so it names the request a cached reply answered."""
    replies = {}
    for path in cache.glob("*/*.json"):
        if not path.name.startswith(".tmp-"):
            doc = json.loads(path.read_text())
            replies[doc["raw"]["id"]] = doc["text"]
    return replies


def test_kill_9_mid_teacher_phase_then_resume_resends_nothing_answered(dataset, tmp_path):
    """The stage runs in a subprocess and is killed with SIGKILL (its whole process group: the
    launcher and its Beam workers) once some trajectories have been answered to the end and
    others are still open. Rerun with the same command into the same output, it writes exactly
    the bytes of an uninterrupted run, and no request whose reply was cached before the kill
    reaches the server again: the rerun sends only the requests the cache lacks."""
    data, expect = dataset
    config = _config(tmp_path, teacher={"max_in_flight": 2})
    clean, resumed = tmp_path / "clean", tmp_path / "resumed"
    with ScriptedServer(script_for(expect)) as server:
        assert run_pipeline.main(_argv(clean, config, data, *_teacher(server))) == 0
        total = len(server.requests)

    cache = resumed / "cache" / "teacher"
    with ScriptedServer(script_for(expect), latency_s=0.3) as server:
        argv = [
            sys.executable,
            str(ROOT / "run_pipeline.py"),
            *_argv(resumed, config, data, *_teacher(server)),
        ]
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, "the run ended before it could be killed"
            finished = [t for t in _cached_replies(cache).values() if "<answer>" in t]
            if len(finished) >= 2:
                break
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        received = {response_id(r.body) for r in server.chat_requests()}
    cached = _cached_replies(cache)
    assert len([t for t in cached.values() if "<answer>" in t]) >= 2
    assert 0 < len(cached) < total, "the kill came after the teacher phase"
    assert set(cached) <= received
    assert not (resumed / "metrics.json").exists()

    with ScriptedServer(script_for(expect)) as server:
        assert run_pipeline.main(_argv(resumed, config, data, *_teacher(server))) == 0
        resent = {response_id(r.body) for r in server.chat_requests()}
        assert not resent & set(cached), "a request answered and cached before the kill was sent"
        assert len(server.chat_requests()) == total - len(cached)
    assert _outputs(resumed) == _outputs(clean)


def test_one_and_two_workers_write_the_same_bytes_with_refill(dataset, tmp_path):
    """Continuous refill emits trajectories in completion order, which differs with worker
    count and timing; the files do not. Each worker keeps at most max_in_flight open."""
    data, expect = dataset
    config = _config(tmp_path, teacher={"max_in_flight": 2})
    outputs = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        # Uneven latency, so trajectories finish out of input order.
        latency = lambda m: 0.01 * (len(first_user_text(m)) % 5)  # noqa: E731
        with ScriptedServer(script_for(expect), latency_s=latency) as server:
            argv = _argv(out, config, data, *_teacher(server), f"--direct_num_workers={workers}")
            assert run_pipeline.main(argv) == 0
            assert server.max_in_flight <= 2 * workers
        outputs[workers] = _outputs(out)
    assert outputs[1] == outputs[2]
