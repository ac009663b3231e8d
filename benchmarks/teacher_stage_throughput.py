"""The teacher stage measured as a stage: `cold_start_data --input ... --teacher openai` against
the simulated continuous-batching engine (benchmarks/sim_engine_server.py), beside the rollout
engine alone on the same trajectories, one run.

python benchmarks/teacher_stage_throughput.py [--items 256] [--capacity 32] [--workers 2]
    [--json out.json]   (all knobs: --help)

Both drivers see the same work: `--items` single-image multiple-choice questions whose
`[item:KEY]` tag seeds a heavy-tailed number of draw turns on the server. The stage runs with
default teacher settings (max_in_flight 64 per worker) and a fresh reply cache; the engine-alone
driver is `rollout.engine.run_rollouts` with the same concurrency.

Busy share (the issue's measure) = ideal makespan / actual makespan of the teacher phase, from
the engine's request log: actual = first request's arrival to last reply; ideal = the larger
of (total slot-seconds / capacity) and the longest single trajectory's own service time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drawreason.drawing.environment import EnvConfig  # noqa: E402
from drawreason.rollout.engine import run_rollouts  # noqa: E402
from drawreason.teachers.factory import TeacherConfig  # noqa: E402
from drawreason.teachers.openai_backend import OpenAITeacher  # noqa: E402

from benchmarks.rollout_throughput import PARAMS, make_jobs  # noqa: E402
from benchmarks.sim_engine_server import RequestLog, SimConfig, SimEngineServer  # noqa: E402

TARGET_BUSY = 0.9


@dataclass(frozen=True)
class PhaseResult:
    """One teacher phase as the engine saw it."""

    driver: str
    trajectories: int
    requests: int
    phase_s: float  # first arrival to last reply
    ideal_s: float
    busy_share: float
    trajectories_per_s: float  # over the teacher phase
    wall_s: float  # the driver's whole wall time (the stage: generation, writing included)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def phase_result(driver: str, logs: list[RequestLog], capacity: int, wall_s: float) -> PhaseResult:
    """The busy share of the module docstring from the engine's request log."""
    first, last = min(r.arrival for r in logs), max(r.end for r in logs)
    service: dict[str, float] = {}
    for r in logs:
        service[r.key] = service.get(r.key, 0.0) + (r.end - r.start)
    slot_s = sum(service.values())
    ideal = max(slot_s / capacity, max(service.values()))
    phase = last - first
    return PhaseResult(
        driver, len(service), len(logs), phase, ideal, ideal / phase, len(service) / phase, wall_s
    )


def write_inputs(root: Path, items: int, size: int) -> Path:
    """A generic JSONL source with the same keys and images as `make_jobs`."""
    (root / "img").mkdir(parents=True)
    lines = []
    for i in range(items):
        key = f"item{i:05d}"
        image = Image.new("RGB", (size, size), (235, 235, 225))
        draw = ImageDraw.Draw(image)
        for k in range(3):
            x, y = (37 * (i + k) + 11 * k) % (size - 40), (53 * i + 29 * k) % (size - 40)
            draw.rectangle((x, y, x + 30, y + 30), fill=(40 * k, 90, 200 - 50 * k))
        image.save(root / "img" / f"{key}.png")
        record = {
            "id": key,
            "question": f"[item:{key}] Which object is closest to the door?",
            "images": [f"img/{key}.png"],
            "question_type": "multiple choice",
            "options": ["cup", "plate", "lamp", "chair"],
            "answer": "A",
        }
        lines.append(json.dumps(record))
    path = root / "sim.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_engine_alone(server: SimEngineServer, items: int, size: int, concurrency: int) -> float:
    teacher = OpenAITeacher(server.base_url, "sim-vlm", max_in_flight=concurrency)
    jobs = make_jobs(items, size, 10)
    started = time.perf_counter()
    run_rollouts(jobs, teacher, PARAMS, EnvConfig(max_calls=10), None, None, concurrency)
    return time.perf_counter() - started


def run_stage(server: SimEngineServer, source: Path, out: Path, workers: int) -> float:
    import run_pipeline

    argv = [
        "--stage",
        "cold_start_data",
        "--output",
        str(out),
        "--num-samples",
        "2",
        "--input",
        str(source),
        "--teacher",
        "openai",
        "--teacher-endpoint",
        server.base_url,
        "--teacher-model",
        "sim-vlm",
        f"--direct_num_workers={workers}",
    ]
    started = time.perf_counter()
    code = run_pipeline.main(argv)
    if code != 0:
        raise SystemExit(f"the stage failed with exit code {code}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=256, help="single-image questions")
    parser.add_argument("--capacity", type=int, default=32, help="engine sequence slots")
    parser.add_argument("--workers", type=int, default=2, help="Beam worker processes")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    concurrency = TeacherConfig().max_in_flight  # the stage's default
    config = SimConfig(capacity=args.capacity)
    machine = f"{platform.machine()} {os.cpu_count()} CPUs"
    print(f"machine: {machine}, Python {platform.python_version()}")
    print(f"load average before: {load_average()}")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        source = write_inputs(Path(tmp) / "data", args.items, args.image_size)
        with SimEngineServer(config) as server:
            wall = run_engine_alone(server, args.items, args.image_size, concurrency)
            results.append(phase_result("engine alone", server.stats()[1], args.capacity, wall))
            server.reset()
            wall = run_stage(server, source, Path(tmp) / "out", args.workers)
            results.append(
                phase_result(
                    f"stage ({args.workers} workers)", server.stats()[1], args.capacity, wall
                )
            )
    print(f"load average after: {load_average()}")
    print(
        f"engine: capacity {args.capacity}; {args.items} trajectories; teacher max_in_flight "
        f"{concurrency} per worker (default)"
    )
    header = (
        f"{'driver':<18} {'traj':>5} {'turns':>6} {'phase s':>8} {'ideal s':>8} {'busy':>6} "
        f"{'traj/s':>7} {'wall s':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.driver:<18} {r.trajectories:>5} {r.requests:>6} {r.phase_s:8.2f} "
            f"{r.ideal_s:8.2f} {r.busy_share:6.1%} {r.trajectories_per_s:7.2f} {r.wall_s:7.1f}"
        )
    stage = results[-1]
    verdict = "met" if stage.busy_share >= TARGET_BUSY else "NOT met"
    print(
        f"\nstage busy share {stage.busy_share:.1%} (target >= {TARGET_BUSY:.0%}: {verdict}); "
        f"stage/engine-alone trajectories/s over the teacher phase: "
        f"{stage.trajectories_per_s / results[0].trajectories_per_s:.2f}"
    )
    if args.json:
        doc = {"load_average": load_average(), "results": [asdict(r) for r in results]}
        args.json.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
