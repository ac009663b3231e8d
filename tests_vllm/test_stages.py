"""The stages end to end on Beam with a real vLLM engine: `--teacher vllm` loads the engine in the
Beam worker (in-process runner, one worker), `--teacher openai` talks to vLLM's own server.

The tiny model writes gibberish, so every rollout ends at its first turn (no action, or
truncated at max_tokens); the tests check what must hold whatever the text: accounting, one
teacher request per trajectory, image counts, termination reasons, usage in metrics.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import run_pipeline
from tests.realdata import build_dataset
from tests_vllm.conftest import MAX_MODEL_LEN

IN_PROCESS = ["--runner", "FnApiRunner", "--direct_running_mode", "in_memory",
              "--direct_num_workers", "1"]  # fmt: skip
GIBBERISH_ENDINGS = {"no_action", "turn_truncated", "bad_operation"}
ROLLED_OUT = {"Qsingle": 1, "Qmulti": 3, "Qvideo": 16, "Qnum": 1, "Qwrong": 1}  # inputs per item


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("vllm-data") / "data"
    root.mkdir()
    build_dataset(root)
    return root


def _config(tmp_path: Path, **extra: object) -> Path:
    # No engine_args: on CPU, with max_model_len given, VLLMTeacher turns chunked prefill off
    # itself (seeded requests would otherwise stop vLLM 0.32's CPU engine).
    teacher = {
        "max_tokens": 24,
        "max_model_len": MAX_MODEL_LEN,
        "dtype": "bfloat16",
        "enforce_eager": True,
        **extra.pop("teacher", {}),  # type: ignore[dict-item]
    }
    config = {
        "mix": {"maze": 1.0},
        "max_images": 20,
        "media": {"max_input_pixels": 500_000},
        "teacher": teacher,
        **extra,
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_cold_start_with_in_process_vllm(dataset: Path, tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = [
        "--stage",
        "cold_start_data",
        "--output",
        str(out),
        "--num-samples",
        "2",
        "--config",
        str(_config(tmp_path)),
        "--input",
        str(dataset / "qa.jsonl"),
        "--teacher",
        "vllm",
        "--teacher-model",
        str(tiny_model),
        *IN_PROCESS,
    ]
    assert run_pipeline.main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    qa = metrics["subsets"]["qa"]
    assert metrics["accounted"] and qa["input"] == 13 and qa["kept"] == 0
    assert metrics["subsets"]["maze"]["kept"] == 2  # the generated subset is unaffected
    rejected = {r["sample_id"]: r for r in _lines(out / "rejected/cold_start/qa.jsonl")}
    for tag, inputs in ROLLED_OUT.items():
        record = rejected[f"{tag}#0"]
        trajectory = record["trajectory"]
        assert (
            record["reason"] in GIBBERISH_ENDINGS and trajectory["termination"] == record["reason"]
        )
        assert len(trajectory["turns"]) == 1 and trajectory["turns"][0]["finish_reason"] in {
            "stop",
            "length",
        }
        assert len(trajectory["input_sizes"]) == inputs
        assert all(w % 28 == 0 and h % 28 == 0 for w, h in trajectory["input_sizes"])
        assert trajectory["provenance"]["producer"] == f"teacher:vllm:{tiny_model}"
        log = trajectory["meta"]["turn_logs"][0]
        assert len(log["request"]["image_sha256"]) == inputs and log["completion_tokens"] > 0
        assert all((out / "images" / k[:2] / k).is_file() for k in trajectory["item"]["images"])
    usage = metrics["teacher_usage"]
    assert usage["teacher_requests"] == len(ROLLED_OUT) and usage["prompt_tokens"] > 0
    assert usage["completion_tokens"] <= 24 * len(ROLLED_OUT)


def test_rl_data_pass_rate_with_in_process_vllm(
    dataset: Path, tiny_model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    config = _config(tmp_path, pass_rate={"enabled": True, "samples": 2}, num_samples=0)
    argv = [
        "--stage",
        "rl_data",
        "--output",
        str(out),
        "--config",
        str(config),
        "--input",
        str(dataset / "qa.jsonl"),
        "--teacher",
        "vllm",
        "--teacher-model",
        str(tiny_model),
        *IN_PROCESS,
    ]
    assert run_pipeline.main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    qa = metrics["subsets"]["qa"]
    assert metrics["accounted"] and qa["input"] == 13
    # Gibberish never answers: every rolled-out question is too hard, none is kept.
    assert qa["kept"] == 0 and qa["rejected"]["too_hard"] == len(ROLLED_OUT)
    assert qa["pass_rate"] == {"0.000": len(ROLLED_OUT)}
    rollouts = _lines(out / "rollouts/rl_data/qa.jsonl")
    assert sorted(r["item"]["id"] for r in rollouts) == sorted(
        f"{tag}#{s}" for tag in ROLLED_OUT for s in range(2)
    )
    assert metrics["teacher_usage"]["teacher_requests"] == 2 * len(ROLLED_OUT)


def test_reflective_data_against_the_vllm_server(
    dataset: Path, vllm_server: str, tmp_path: Path
) -> None:
    from tests_vllm.rollouts import SERVED_NAME

    out = tmp_path / "out"
    config = _config(tmp_path, num_samples=2, teacher={"samples_per_item": 2})
    argv = [
        "--stage",
        "reflective_data",
        "--output",
        str(out),
        "--config",
        str(config),
        "--input",
        str(dataset / "qa.jsonl"),
        "--teacher",
        "openai",
        "--teacher-endpoint",
        vllm_server,
        "--teacher-model",
        SERVED_NAME,
    ]
    assert run_pipeline.main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["accounted"] and metrics["kept"] == 0
    assert metrics["subsets"]["qa"]["input"] == 13 * 2
    assert metrics["subsets"]["maze"]["input"] == 2 * 2
    maze = metrics["subsets"]["maze"]
    assert set(maze["rejected"]) <= GIBBERISH_ENDINGS and sum(maze["rejected"].values()) == 4
    assert metrics["teacher_usage"]["teacher_requests"] == 2 * (len(ROLLED_OUT) + 2)
    assert metrics["subsets"]["qa"]["sampled"] == 2 * len(ROLLED_OUT)
