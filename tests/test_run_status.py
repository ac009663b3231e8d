"""run_pipeline.py tells the truth: exit status, checks before Beam starts, quiet output, Ctrl-C."""

import hashlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from drawreason.cli.stages import failure_reason
from drawreason.drawing.format import format_answer_turn
from drawreason.pipelines.progress import ProgressTicker, format_progress, read_counts
from PIL import Image

from tests.scripted_server import ScriptedServer

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def _command(*args: str) -> list[str]:
    return [PY, str(ROOT / "run_pipeline.py"), *args]


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DRAWREASON_PROGRESS_DIR"}
    return subprocess.run(
        _command(*args), cwd=ROOT, capture_output=True, text=True, timeout=600, env=env
    )


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "run.json"
    }


def _questions(root: Path, n: int = 3) -> Path:
    root.mkdir(parents=True)
    with open(root / "qa.jsonl", "w") as handle:
        for i in range(n):
            Image.new("RGB", (112, 84), (40 * i, 90, 200)).save(root / f"q{i}.png")
            record = {
                "id": f"q{i}",
                "images": [f"q{i}.png"],
                "question": f"How many cups are on shelf {i}?",
                "question_type": "numerical",
                "answer": "5",
            }
            handle.write(json.dumps(record) + "\n")
    return root / "qa.jsonl"


def _reflective(tmp_path: Path, url: str, *extra: str) -> subprocess.CompletedProcess:
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"num_samples": 0, "teacher": {"samples_per_item": 2}}))
    return _cli(
        "--stage",
        "reflective_data",
        "--output",
        str(tmp_path / "out"),
        "--config",
        str(config),
        "--input",
        str(_questions(tmp_path / "data")),
        "--teacher",
        "openai",
        "--teacher-endpoint",
        url,
        "--teacher-model",
        "m",
        *extra,
    )


def test_every_teacher_request_failing_exits_non_zero_with_one_line(tmp_path):
    with ScriptedServer(lambda messages: format_answer_turn("x", "5")) as server:
        server.inject("status", times=1000, status=400)  # not transient: no retries
        result = _reflective(tmp_path, server.base_url)
    assert result.returncode == 1, result.stderr
    failed = [line for line in result.stderr.splitlines() if "failed:" in line]
    assert len(failed) == 1 and "every teacher request failed (6 of 6)" in failed[0]
    assert "Traceback" not in result.stderr
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["rejected"] == {"teacher_error": 6}


def test_every_record_rejected_by_filters_exits_zero(tmp_path):
    with ScriptedServer(lambda messages: format_answer_turn("Counted.", "9")) as server:
        result = _reflective(tmp_path, server.base_url)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["kept"] == 0 and sum(metrics["rejected"].values()) == 6
    assert "teacher_error" not in metrics["rejected"]


def test_error_share_over_max_error_rate():
    metrics = {"input": 10, "kept": 4, "rejected": {"teacher_error": 6}, "errors": 0}
    metrics["accounted"] = True
    assert "60% of records failed" in failure_reason(metrics, 0.5)
    assert failure_reason(metrics, 0.6) == ""
    metrics["rejected"] = {"wrong_answer": 6}
    assert failure_reason(metrics, 0.0) == ""  # filter rejections are not failures


def test_no_server_fails_in_one_line_before_beam(tmp_path):
    result = _reflective(tmp_path, "http://127.0.0.1:9/v1")
    assert result.returncode == 2
    assert result.stderr.strip().endswith("no server at http://127.0.0.1:9/v1: is it running?")
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed")
def test_missing_teacher_package_fails_in_the_driver(tmp_path):
    result = _cli(
        "--stage", "reflective_data", "--teacher", "vllm", "--teacher-model", "/m",
        "--output", str(tmp_path / "out"),
    )  # fmt: skip
    assert result.returncode == 2
    assert "--teacher vllm needs the vllm package" in result.stderr
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("flag", "hint"),
    [
        (["--direct_num_worker", "1"], "unknown option --direct_num_worker; did you mean "
         "--direct_num_workers?"),
        (["--workers", "4"], "unknown option --workers; did you mean --num_workers?"),
        (["--foo", "bar"], "unknown option --foo"),
        (["--verbos"], "unknown option --verbos; did you mean --verbose?"),
    ],
)  # fmt: skip
def test_unknown_beam_option_is_rejected(tmp_path, flag, hint):
    result = _cli("--stage", "cold_start_data", "--output", str(tmp_path / "o"), *flag)
    assert result.returncode == 2
    assert hint in result.stderr
    assert not (tmp_path / "o").exists()


def test_known_beam_options_still_pass(tmp_path):
    out = tmp_path / "o"
    result = _cli(
        "--stage", "cold_start_data", "--num-samples", "2", "--output", str(out),
        "--direct_num_workers", "1", "--job_name=quiet-test",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "run.json").read_text())["beam_options"]["job_name"] == "quiet-test"


def test_unknown_input_kind_is_named_with_a_suggestion(tmp_path):
    result = _cli("--stage", "cold_start_data", "--input", "vilsar:/data/rl.json")
    assert result.returncode == 2
    assert "unknown input kind 'vilsar'; did you mean vilasr?" in result.stderr


def test_missing_input_is_an_error_without_a_teacher(tmp_path):
    result = _cli(
        "--stage", "cold_start_data", "--input", str(tmp_path / "nope.jsonl"),
        "--output", str(tmp_path / "o"),
    )  # fmt: skip
    assert result.returncode == 2 and "no such file" in result.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("stage", ["report", "push_to_hub"])
def test_missing_run_folder_is_an_error_and_not_created(tmp_path, stage):
    missing = tmp_path / "typo"
    extra = ["--repo-id", "org/name"] if stage == "push_to_hub" else []
    result = _cli("--stage", stage, "--output", str(missing), *extra)
    assert result.returncode == 2
    assert f"--output {missing}: no such run folder" in result.stderr
    assert not missing.exists()


def test_missing_training_data_folder_is_an_error(tmp_path):
    result = _cli("--stage", "train_sft", "--data", str(tmp_path / "typo"), "--model", "m")
    assert result.returncode == 2 and "no such run folder" in result.stderr


def test_help_has_no_apitools_line_and_documents_exit_status():
    result = _cli("--help")
    assert result.returncode == 0
    assert "apitools" not in result.stderr + result.stdout
    assert "Exit status" in result.stdout and "--max-error-rate" in result.stdout


def test_default_run_prints_at_most_ten_lines_on_a_non_tty(tmp_path):
    result = _cli("--stage", "cold_start_data", "--output", str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr
    lines = (result.stdout + result.stderr).splitlines()
    assert len(lines) <= 10, lines
    assert not any("apitools" in line or line.startswith("INFO") for line in lines)
    progress = [line for line in lines if line.startswith("samples generated")]
    assert progress and progress[-1].startswith("samples generated 400/400 (100%)")


def test_ctrl_c_prints_one_resume_line_and_the_rerun_writes_the_same_bytes(tmp_path):
    args = ["--stage", "cold_start_data", "--num-samples", "200", "--seed", "3"]
    interrupted = tmp_path / "interrupted"
    env = {k: v for k, v in os.environ.items() if k != "DRAWREASON_PROGRESS_DIR"}
    process = subprocess.Popen(
        _command(*args, "--output", str(interrupted)),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # A job started in the background may inherit SIGINT ignored; a terminal's is not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while not (interrupted / "config.json").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2.0)  # inside the Beam run
    process.send_signal(signal.SIGINT)
    # communicate() returns only once every holder of the pipes has exited: workers included.
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "interrupted; rerun the same command to resume"
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert not (interrupted / "metrics.json").exists()  # it really stopped mid-run

    rerun = _cli(*args, "--output", str(interrupted))
    assert rerun.returncode == 0, rerun.stderr
    straight = tmp_path / "straight"
    assert _cli(*args, "--output", str(straight)).returncode == 0
    assert _digest(interrupted) == _digest(straight)


def test_progress_counts_add_up_over_workers(tmp_path, monkeypatch):
    monkeypatch.setenv("DRAWREASON_PROGRESS_DIR", str(tmp_path))
    tickers = [ProgressTicker("teacher trajectories") for _ in range(2)]
    for n, ticker in enumerate(tickers):
        for _ in range(n + 2):
            ticker.tick()
        ticker.flush()
    assert read_counts(tmp_path) == {"teacher-trajectories": 5}
    assert format_progress("teacher trajectories", 5, 20, 2.0) == (
        "teacher trajectories 5/20 (25%) 2.5/s ETA 0:06"
    )
    assert format_progress("samples generated", 4, None, 2.0) == "samples generated 4 2.0/s in 0:02"
