"""scripts/serve_vllm_cpu.sh as the README uses it: it serves the tiny model on 127.0.0.1 and a
`reflective_data` run against it completes (the tiny model's gibberish is rejected, not failed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests_vllm.conftest import ROOT, SERVER_START_TIMEOUT_S, _free_port, _healthy

SERVED = "policy"  # the script's default served name


@pytest.fixture(scope="module")
def script_server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    log_path = tmp_path_factory.mktemp("serve-script") / "server.log"
    env = {**os.environ, "PYTHON": sys.executable}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(ROOT / "scripts" / "serve_vllm_cpu.sh"), str(tiny_model), str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while not _healthy(f"http://127.0.0.1:{port}/health"):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-4000:]
                pytest.fail(f"serve_vllm_cpu.sh did not serve; log tail:\n{tail}", pytrace=False)
            time.sleep(1)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()  # the script exec'd the server: this is the server
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_serve_script_serves_and_reflective_data_completes(
    script_server: str, tmp_path: Path
) -> None:
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps({"mix": {"maze": 1.0}, "teacher": {"samples_per_item": 2, "max_tokens": 24}})
    )
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable, str(ROOT / "run_pipeline.py"), "--stage", "reflective_data",
            "--output", str(out), "--num-samples", "2", "--config", str(config),
            "--teacher", "openai", "--teacher-endpoint", script_server, "--teacher-model", SERVED,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["accounted"] and metrics["input"] == 4
    usage = metrics["teacher_usage"]
    assert usage["teacher_requests"] >= 4 and not usage.get("teacher_errors")
    assert "teacher_error" not in metrics["rejected"]
    assert len((result.stdout + result.stderr).splitlines()) <= 10
