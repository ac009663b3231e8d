"""The teacher stage measured as a stage: `cold_start_data --input ... --teacher openai` against
the simulated continuous-batching engine (benchmarks/sim_engine_server.py), beside the rollout
engine alone on the same trajectories, one run.

python benchmarks/teacher_stage_throughput.py [--items 256] [--capacity 32] [--workers 2]
    [--max-in-flight N] [--timeline] [--json out.json]   (all knobs: --help)

Both drivers see the same work: `--items` single-image multiple-choice questions whose
`[item:KEY]` tag seeds a heavy-tailed number of draw turns on the server. The stage runs with
default teacher settings (`teacher.max_in_flight` per worker, unless `--max-in-flight` sets it)
and a fresh reply cache; the engine-alone driver is `rollout.engine.run_rollouts` in one process
with as many trajectories open as the stage's workers together (workers x max_in_flight).
`--timeline` prints, for the stage, where the slot time goes: the engine's running and queued
sequences per second, the client's time from a reply to the same trajectory's next request,
when trajectories were opened, and the last trajectories to finish.

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


def _spread(bins: list[float], start: float, end: float) -> None:
    """Add the interval [start, end] (seconds from the phase start) to 1-second bins."""
    second = int(start)
    while start < end and second < len(bins):
        stop = min(end, second + 1.0)
        bins[second] += stop - start
        start, second = stop, second + 1


def print_timeline(logs: list[RequestLog], capacity: int) -> None:
    """Where the slot time of a phase goes (see the module docstring)."""
    origin = min(r.arrival for r in logs)
    seconds = int(max(r.end for r in logs) - origin) + 1
    running, queued = [0.0] * seconds, [0.0] * seconds
    for r in logs:
        _spread(running, r.start - origin, r.end - origin)
        _spread(queued, r.arrival - origin, r.start - origin)
    turns: dict[str, list[RequestLog]] = {}
    for r in logs:
        turns.setdefault(r.key, []).append(r)
    gaps, opened = [], []
    for trajectory in turns.values():
        trajectory.sort(key=lambda r: r.turn)
        opened.append(trajectory[0].arrival - origin)
        gaps += [b.arrival - a.end for a, b in zip(trajectory, trajectory[1:], strict=False)]
    gaps.sort()
    print(f"\ntimeline of the stage (capacity {capacity}), per second from the first request:")
    print(f"{'s':>3} {'running':>8} {'queued':>7} {'opened':>7}")
    for second in range(seconds):
        count = sum(t < second + 1 for t in opened)
        print(f"{second:>3} {running[second]:8.1f} {queued[second]:7.1f} {count:>7}")
    if gaps:
        pick = lambda q: gaps[min(len(gaps) - 1, int(q * len(gaps)))]  # noqa: E731
        print(
            f"reply -> next request of the same trajectory (client: execute the turn, render, "
            f"encode, cache, send), {len(gaps)} gaps: p50 {pick(0.5) * 1e3:.0f} ms, "
            f"p95 {pick(0.95) * 1e3:.0f} ms, max {gaps[-1] * 1e3:.0f} ms"
        )
    print("last trajectories to finish (turns; opened, finished, time queued/served/client):")
    last = sorted(turns.values(), key=lambda t: t[-1].end)[-6:]
    for t in last:
        queue = sum(r.start - r.arrival for r in t)
        served = sum(r.end - r.start for r in t)
        client = sum(b.arrival - a.end for a, b in zip(t, t[1:], strict=False))
        print(
            f"  {t[0].key} {len(t):>2} turns; {t[0].arrival - origin:5.2f} s, "
            f"{t[-1].end - origin:5.2f} s; {queue:5.2f} / {served:5.2f} / {client:4.2f} s"
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


def run_stage(
    server: SimEngineServer, source: Path, out: Path, workers: int, max_in_flight: int | None
) -> float:
    import run_pipeline

    config = []
    if max_in_flight is not None:
        path = out.parent / "stage-config.json"
        path.write_text(json.dumps({"teacher": {"max_in_flight": max_in_flight}}))
        config = ["--config", str(path)]
    argv = [
        *config,
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
    parser.add_argument(
        "--max-in-flight", type=int, help="teacher.max_in_flight (default: the stage's default)"
    )
    parser.add_argument("--timeline", action="store_true", help="where the stage's time goes")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    per_worker = args.max_in_flight or TeacherConfig().max_in_flight
    concurrency = per_worker * args.workers  # the stage's open trajectories, all workers
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
            wall = run_stage(server, source, Path(tmp) / "out", args.workers, args.max_in_flight)
            stage_logs = server.stats()[1]
            results.append(
                phase_result(f"stage ({args.workers} workers)", stage_logs, args.capacity, wall)
            )
    print(f"load average after: {load_average()}")
    setting = "--max-in-flight" if args.max_in_flight else "default"
    print(
        f"engine: capacity {args.capacity}; {args.items} trajectories; stage: teacher "
        f"max_in_flight {per_worker} per worker ({setting}); engine alone: {concurrency} open"
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
    if args.timeline:
        print_timeline(stage_logs, args.capacity)
    if args.json:
        doc = {"load_average": load_average(), "results": [asdict(r) for r in results]}
        args.json.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
