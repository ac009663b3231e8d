"""The in-process vLLM teacher against `vllm serve` + the OpenAI back end, each measured as the
real `cold_start_data` stage on Beam, on CPU with the tiny Qwen2-VL, on the same real-data input.

.venv-vllm/bin/python benchmarks/vllm_teacher_throughput.py [--items 32] [--repeats 1]
    [--json out.json]   (all knobs: --help; build the venv with scripts/setup_vllm.sh)

The input is a generic JSONL file of single-image multiple-choice questions with their images on
disk. The random model writes gibberish, so every request is constrained by vLLM structured
outputs (tests_vllm/forced.py, through `teacher.structured_outputs`) to a valid action: box,
line, answer, three turns per trajectory, images fed back. Both runs use the in-memory Beam
runner with one worker (one engine: the in-process teacher starts one per worker process) and
the same engine settings (scripts/serve_vllm_cpu.sh's: bf16, eager, max_model_len 4096, no
chunked prefill, prefix caching on) and default teacher settings otherwise (64 trajectories open).

Teacher phase = first request (the hook notes it) to the last reply written to the reply cache
(its file's modification time); trajectories/s = trajectories / teacher phase. Engine or server
start is outside the phase for both.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import forced_timing  # noqa: E402
from tests_vllm.forced import FORCED_TAG, FORCED_TURNS  # noqa: E402

RUNTIME_ENV = {
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
}
MAX_MODEL_LEN = 4096
MAX_IMAGES = 8
SERVED_NAME = "tiny-qwen2vl"
IN_MEMORY = ["--runner", "FnApiRunner", "--direct_running_mode", "in_memory",
             "--direct_num_workers", "1"]  # fmt: skip
TARGET = 0.9  # in-process within 10% of the server's trajectories/s


@dataclass(frozen=True)
class PhaseResult:
    teacher: str
    trajectories: int
    kept: int  # answered correctly in three valid turns: every forced trajectory
    requests: int
    phase_s: float
    trajectories_per_s: float
    wall_s: float  # the whole stage, engine start included for the in-process teacher


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def write_inputs(root: Path, items: int) -> Path:
    """`items` generic-format questions, each with a 224x224 PNG, tagged for forced actions."""
    from PIL import Image, ImageDraw

    (root / "img").mkdir(parents=True)
    lines = []
    for i in range(items):
        key = f"q{i:04d}"
        image = Image.new("RGB", (224, 224), (235, 235, 225))
        draw = ImageDraw.Draw(image)
        for k in range(3):
            x, y = (37 * (i + k) + 11 * k) % 184, (53 * i + 29 * k) % 184
            draw.rectangle((x, y, x + 30, y + 30), fill=(40 * k, 90, 200 - 50 * k))
        image.save(root / "img" / f"{key}.png")
        record = {
            "id": key,
            "question": f"{FORCED_TAG} [{key}] Which object is closest to the door?",
            "images": [f"img/{key}.png"],
            "question_type": "multiple choice",
            "options": ["cup", "plate", "lamp", "chair"],
            "answer": "B",
        }
        lines.append(json.dumps(record))
    path = root / "qa.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_config(path: Path, max_tokens: int) -> Path:
    teacher = {
        "max_tokens": max_tokens,
        "max_model_len": MAX_MODEL_LEN,
        "dtype": "bfloat16",
        "enforce_eager": True,
        "structured_outputs": forced_timing.HOOK,
    }
    config = {"mix": {"maze": 1.0}, "max_images": MAX_IMAGES, "teacher": teacher}
    path.write_text(json.dumps(config))
    return path


def run_stage(out: Path, config: Path, source: Path, teacher: list[str]) -> PhaseResult:
    import run_pipeline

    forced_timing.FIRST_REQUEST.clear()
    argv = ["--stage", "cold_start_data", "--output", str(out), "--num-samples", "1",
            "--config", str(config), "--input", str(source), *teacher, *IN_MEMORY]  # fmt: skip
    started = time.perf_counter()
    if run_pipeline.main(argv) != 0:
        raise SystemExit(f"the stage failed ({' '.join(teacher)})")
    wall = time.perf_counter() - started
    replies = list((out / "cache" / "teacher").glob("*/*.json"))
    end = max(p.stat().st_mtime for p in replies)
    phase = end - forced_timing.FIRST_REQUEST[0]
    metrics = json.loads((out / "metrics.json").read_text())
    turns = metrics["teacher_usage"]["teacher_requests"]
    # the real-data subset (the run also makes one maze sample: the stage needs one)
    (subset,) = (v for k, v in metrics["subsets"].items() if "qa" in k)
    trajectories = subset["input"]
    return PhaseResult(
        teacher[1], trajectories, subset["kept"], turns, phase, trajectories / phase, wall
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(model: Path, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, **RUNTIME_ENV, "SERVED_NAME": SERVED_NAME,
           "MAX_MODEL_LEN": str(MAX_MODEL_LEN), "MAX_IMAGES": str(MAX_IMAGES),
           "PYTHON": sys.executable}  # fmt: skip
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            ["bash", str(ROOT / "scripts" / "serve_vllm_cpu.sh"), str(model), str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
        )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"vllm serve exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return process
        except OSError:
            pass
        time.sleep(1)
    process.terminate()
    raise SystemExit("vllm serve was not healthy in 600 s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=32, help="questions (one trajectory each)")
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=1, help="runs of each, alternating")
    parser.add_argument("--model", type=Path, help="a tiny model folder (default: build one)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    os.environ.update(RUNTIME_ENV)
    print(
        f"machine: {platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"load average before: {load_average()}")
    results: list[PhaseResult] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        model = args.model
        if model is None:
            model = tmp / "model"
            subprocess.run(
                [sys.executable, str(ROOT / "scripts" / "tiny_qwen2vl.py"), str(model),
                 "--with-model"], check=True, capture_output=True,
            )  # fmt: skip
        source = write_inputs(tmp / "data", args.items)
        config = write_config(tmp / "config.json", args.max_tokens)
        port = free_port()
        server = start_server(model, port, tmp / "server.log")
        try:
            for r in range(args.repeats):
                results.append(
                    run_stage(tmp / f"vllm{r}", config, source,
                              ["--teacher", "vllm", "--teacher-model", str(model)])
                )  # fmt: skip
                results.append(
                    run_stage(tmp / f"openai{r}", config, source,
                              ["--teacher", "openai", "--teacher-endpoint",
                               f"http://127.0.0.1:{port}/v1", "--teacher-model", SERVED_NAME])
                )  # fmt: skip
        finally:
            server.terminate()
            server.wait(timeout=120)
    print(f"load average after: {load_average()}")
    header = (
        f"{'teacher':<8} {'traj':>5} {'kept':>5} {'turns':>6} {'phase s':>8} "
        f"{'traj/s':>7} {'wall s':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.teacher:<8} {r.trajectories:>5} {r.kept:>5} {r.requests:>6} "
            f"{r.phase_s:8.2f} {r.trajectories_per_s:7.2f} {r.wall_s:7.1f}"
        )
    inproc = [r.trajectories_per_s for r in results if r.teacher == "vllm"]
    served = [r.trajectories_per_s for r in results if r.teacher == "openai"]
    ratio = (sum(inproc) / len(inproc)) / (sum(served) / len(served))
    verdict = "met" if ratio >= TARGET else "NOT met"
    print(
        f"\nin-process / vllm serve + OpenAI back end, trajectories/s over the teacher phase: "
        f"{ratio:.2f} (target >= {TARGET:.2f}: {verdict}); {FORCED_TURNS} turns per trajectory"
    )
    if args.json:
        doc = {
            "load_average": load_average(),
            "ratio": ratio,
            "results": [asdict(r) for r in results],
        }
        args.json.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
