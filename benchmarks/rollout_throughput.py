"""Rollout throughput: the async engine (`rollout_many`) against the reference implementation's
lock-step loop (`rollout_lockstep`), same simulated batching server, same items, one run.

python benchmarks/rollout_throughput.py [--items 256] [--capacity 32] [--concurrency 32]
    [--json out.json]   (all knobs: --help)

The server (benchmarks/sim_engine_server.py, its own process) runs at most `capacity`
sequences; a request costs prefill plus one decode step per reply token, steps slow down
mildly as the batch fills; each trajectory draws a heavy-tailed number of draw turns seeded by
its item key. Both drivers get the same `max_concurrent_trajectories` and an OpenAITeacher with
`max_in_flight` = that concurrency, and no reply cache. The default concurrency is the
server's capacity, what a user sizing the client to the engine's max_num_seqs would set; a
larger value only parks requests in the engine's queue (try --concurrency 64).

"In flight" is the number of sequences the engine is running (queued requests excluded), as a
time-weighted mean over the steady-state window: from the moment the engine first runs
min(capacity, concurrency) sequences (ramp-up over) to the moment fewer than `concurrency`
trajectories remain unfinished (tail: the driver can no longer fill its slots).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drawreason.drawing.environment import EnvConfig  # noqa: E402
from drawreason.drawing.prompts import Prompts  # noqa: E402
from drawreason.rollout.conversation import RolloutJob  # noqa: E402
from drawreason.rollout.engine import run_rollouts  # noqa: E402
from drawreason.teachers.base import SamplingParams  # noqa: E402
from drawreason.teachers.openai_backend import OpenAITeacher  # noqa: E402

from benchmarks.sim_engine_server import (  # noqa: E402
    RequestLog,
    SimConfig,
    SimEngineServer,
    plan_trajectory,
)

PARAMS = SamplingParams(temperature=0.0, max_tokens=1024)
TARGET_SPEEDUP = 1.5
TARGET_IN_FLIGHT = 0.9


@dataclass(frozen=True)
class DriverResult:
    """One driver's run: client wall time and rates, engine occupancy, trajectory latency."""

    driver: str
    wall_s: float
    trajectories: int
    answered: int
    requests: int
    trajectories_per_s: float
    turns_per_s: float
    steady_window_s: tuple[float, float]  # seconds after the first request
    running_steady: float  # mean running sequences / capacity in the window
    queued_steady: float  # mean queued requests in the window
    running_whole_run: float  # mean running sequences / capacity, first request to last reply
    latency_p50_s: float
    latency_p95_s: float
    engine_bound_trajectories_per_s: float  # the same work with every slot always busy


def make_jobs(items: int, size: int, max_calls: int) -> list[RolloutJob]:
    """One single-image multiple-choice job per item; the `[item:KEY]` tag drives the server."""
    prompts = Prompts()
    jobs = []
    for i in range(items):
        key = f"item{i:05d}"
        image = Image.new("RGB", (size, size), (235, 235, 225))
        draw = ImageDraw.Draw(image)
        for k in range(3):  # a few distinct shapes per item, so images differ
            x, y = (37 * (i + k) + 11 * k) % (size - 40), (53 * i + 29 * k) % (size - 40)
            draw.rectangle((x, y, x + 30, y + 30), fill=(40 * k, 90, 200 - 50 * k))
        user = prompts.question(
            f"[item:{key}] Which object is closest to the door?",
            ["cup", "plate", "lamp", "chair"],
            "multiple choice",
            [image.size],
        )
        system = prompts.system(size, size, max_calls)
        jobs.append(RolloutJob(f"{key}#0", (image,), system, user))
    return jobs


def _mean_level(events: list[tuple[float, int]], start: float, end: float) -> float:
    """Time-weighted mean over [start, end] of the step function given by sorted (time, +/-1)
    events starting from zero."""
    if end <= start:
        return float("nan")
    level, area, previous = 0, 0.0, start
    for t, delta in events:
        if t > previous:
            area += level * (min(t, end) - previous)
            previous = min(t, end)
        level += delta
    area += level * (end - previous)
    return area / (end - start)


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summarize(
    driver: str,
    wall_s: float,
    answered: int,
    logs: list[RequestLog],
    config: SimConfig,
    concurrency: int,
) -> DriverResult:
    """Rates, occupancy in the steady-state window (module docstring) and latency from the
    engine's request log."""
    running = sorted([(r.start, 1) for r in logs] + [(r.end, -1) for r in logs])
    queued = sorted([(r.arrival, 1) for r in logs] + [(r.start, -1) for r in logs])
    first, last = min(r.arrival for r in logs), max(r.end for r in logs)
    spans: dict[str, list[float]] = {}
    for r in logs:
        span = spans.setdefault(r.key, [r.arrival, r.end])
        span[0], span[1] = min(span[0], r.arrival), max(span[1], r.end)
    ends = sorted(end for _, end in spans.values())
    full = min(config.capacity, concurrency)
    level, ramp_end = 0, last
    for t, delta in running:
        level += delta
        if level >= full:
            ramp_end = t
            break
    tail_start = ends[len(ends) - concurrency] if len(ends) > concurrency else ramp_end
    prefill = config.prefill_s / config.per_token_s
    work_s = sum(r.tokens + prefill for r in logs) * config.step_s(config.capacity)
    latencies = [end - start for start, end in spans.values()]
    return DriverResult(
        driver=driver,
        wall_s=wall_s,
        trajectories=len(spans),
        answered=answered,
        requests=len(logs),
        trajectories_per_s=len(spans) / wall_s,
        turns_per_s=len(logs) / wall_s,
        steady_window_s=(ramp_end - first, tail_start - first),
        running_steady=_mean_level(running, ramp_end, tail_start) / config.capacity,
        queued_steady=_mean_level(queued, ramp_end, tail_start),
        running_whole_run=_mean_level(running, first, last) / config.capacity,
        latency_p50_s=_percentile(latencies, 0.5),
        latency_p95_s=_percentile(latencies, 0.95),
        engine_bound_trajectories_per_s=len(spans) / (work_s / config.capacity),
    )


def run_driver(
    server: SimEngineServer,
    jobs: list[RolloutJob],
    env: EnvConfig,
    concurrency: int,
    lockstep: bool,
) -> tuple[float, int]:
    """Roll out `jobs` with a fresh teacher; (client wall seconds, answered trajectories)."""
    teacher = OpenAITeacher(server.base_url, "sim-vlm", max_in_flight=concurrency)
    started = time.perf_counter()
    records = run_rollouts(jobs, teacher, PARAMS, env, None, None, concurrency, lockstep=lockstep)
    wall_s = time.perf_counter() - started
    return wall_s, sum(r.termination == "answered" for r in records)


def parse_args() -> argparse.Namespace:
    """The command line (see --help)."""
    defaults = SimConfig()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=256, help="trajectories per driver")
    parser.add_argument(
        "--capacity",
        type=int,
        default=defaults.capacity,
        help="sequences the engine runs at once (vLLM max_num_seqs)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        help="max_concurrent_trajectories for both drivers and the teacher's "
        "max_in_flight; default: --capacity (sized to the server, so no request "
        "waits in its queue and client gaps show as idle slots)",
    )
    parser.add_argument(
        "--per-token-ms",
        type=float,
        default=defaults.per_token_s * 1e3,
        help="decode step time with one running sequence",
    )
    parser.add_argument(
        "--batch-slowdown",
        type=float,
        default=defaults.batch_slowdown,
        help="relative step-time growth from 1 to `capacity` running sequences",
    )
    parser.add_argument(
        "--prefill-ms",
        type=float,
        default=defaults.prefill_s * 1e3,
        help="extra time per request at the one-sequence step rate (scales like decode steps)",
    )
    parser.add_argument(
        "--min-tokens",
        type=int,
        default=defaults.min_tokens,
        help="reply length per turn, uniform in [min, max] tokens",
    )
    parser.add_argument("--max-tokens", type=int, default=defaults.max_tokens, help="see --min")
    parser.add_argument(
        "--tail-alpha",
        type=float,
        default=defaults.tail_alpha,
        help="zipf exponent of draw turns per trajectory (smaller: heavier tail)",
    )
    parser.add_argument(
        "--max-calls",
        type=int,
        default=EnvConfig().max_calls,
        help="turn budget (draw turns are 1..max_calls-1, then an answer)",
    )
    parser.add_argument("--image-size", type=int, default=224, help="square input image side")
    parser.add_argument(
        "--calibration-items",
        type=int,
        default=128,
        help="items for the zero-latency client-overhead calibration",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.max_calls < 2:
        parser.error("--max-calls must be >= 2 (at least one draw turn and the answer)")
    if args.per_token_ms <= 0:
        parser.error("--per-token-ms must be > 0 (zero latency is only the calibration)")
    args.concurrency = args.concurrency or args.capacity
    return args


def measure(
    config: SimConfig, jobs: list[RolloutJob], env: EnvConfig, concurrency: int, calibration: int
) -> tuple[float, list[DriverResult]]:
    """Client turns/s against a zero-latency engine (first `calibration` jobs, async engine),
    then both drivers over all jobs with the configured timing."""
    with SimEngineServer(config) as server:
        server.reset(per_token_s=0.0, prefill_s=0.0)
        wall_s, _ = run_driver(server, jobs[:calibration], env, concurrency, lockstep=False)
        client_turns_per_s = len(server.stats()[1]) / wall_s
        results = []
        for name, lockstep in (("async engine", False), ("lock-step", True)):
            server.reset(per_token_s=config.per_token_s, prefill_s=config.prefill_s)
            wall_s, answered = run_driver(server, jobs, env, concurrency, lockstep)
            logs = server.stats()[1]
            results.append(summarize(name, wall_s, answered, logs, config, concurrency))
    return client_turns_per_s, results


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def print_results(results: list[DriverResult]) -> float:
    """The table, the speed-up and the targets; returns the speed-up."""
    header = (
        f"{'driver':<13} {'wall s':>7} {'traj/s':>7} {'turns/s':>8} {'run/cap':>8} "
        f"{'queued':>7} {'run/cap all':>11} {'p50 s':>6} {'p95 s':>6} {'window s':>13} "
        f"{'answered':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        window = f"{r.steady_window_s[0]:.1f}-{r.steady_window_s[1]:.1f}"
        print(
            f"{r.driver:<13} {r.wall_s:7.1f} {r.trajectories_per_s:7.2f} {r.turns_per_s:8.1f} "
            f"{r.running_steady:8.1%} {r.queued_steady:7.1f} {r.running_whole_run:11.1%} "
            f"{r.latency_p50_s:6.2f} {r.latency_p95_s:6.2f} {window:>13} "
            f"{r.answered:>5}/{r.trajectories}"
        )
    ours, baseline = results
    speedup = ours.trajectories_per_s / baseline.trajectories_per_s
    print()
    print(
        f"speed-up (trajectories/s): {speedup:.2f}x (target >= {TARGET_SPEEDUP}x: "
        f"{_verdict(speedup >= TARGET_SPEEDUP)}); async engine in flight "
        f"{ours.running_steady:.1%} of capacity in steady state (target >= "
        f"{TARGET_IN_FLIGHT:.0%}: {_verdict(ours.running_steady >= TARGET_IN_FLIGHT)})"
    )
    print(
        f"engine-bound ceiling for this work: {ours.engine_bound_trajectories_per_s:.2f} traj/s "
        "(every slot busy all the time)"
    )
    print(
        "run/cap: mean running sequences / capacity over the steady window (from the engine "
        "first running min(capacity, concurrency) sequences to fewer than `concurrency` "
        "trajectories left unfinished), seconds after the first request; queued: mean requests "
        "waiting in the engine's queue there; latency: first request to last reply"
    )
    return speedup


def main() -> None:
    args = parse_args()
    config = SimConfig(
        capacity=args.capacity,
        per_token_s=args.per_token_ms / 1e3,
        batch_slowdown=args.batch_slowdown,
        prefill_s=args.prefill_ms / 1e3,
        max_draw_turns=args.max_calls - 1,
        tail_alpha=args.tail_alpha,
        min_tokens=args.min_tokens,
        max_tokens=args.max_tokens,
    )
    jobs = make_jobs(args.items, args.image_size, args.max_calls)
    plans = [plan_trajectory(job.key.split("#")[0], config) for job in jobs]
    turns = [p.draw_turns + 1 for p in plans]
    mean_turn_s = (
        config.prefill_s / config.per_token_s + statistics.mean(t for p in plans for t in p.tokens)
    ) * config.step_s(config.capacity)
    full_engine_turns_per_s = config.capacity / mean_turn_s
    print(
        f"machine: {platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(
        f"workload: {args.items} trajectories, turns per trajectory mean "
        f"{statistics.mean(turns):.2f} / p50 {_percentile(turns, 0.5)} / p95 "
        f"{_percentile(turns, 0.95)} / max {max(turns)}; reply {args.min_tokens}-"
        f"{args.max_tokens} tokens"
    )
    print(
        f"engine: capacity {config.capacity}, step {config.step_s(1) * 1e3:.2f} ms (1 running) to "
        f"{config.step_s(config.capacity) * 1e3:.2f} ms ({config.capacity} running), "
        f"prefill {config.prefill_s * 1e3:.0f} ms; drivers: max_concurrent_trajectories="
        f"{args.concurrency}, teacher max_in_flight={args.concurrency}, no cache"
    )
    env = EnvConfig(max_calls=args.max_calls)
    client_turns_per_s, results = measure(
        config, jobs, env, args.concurrency, args.calibration_items
    )
    print(
        f"client overhead (zero-latency engine, {min(args.calibration_items, args.items)} "
        f"trajectories): {client_turns_per_s:.0f} turns/s = {1e3 / client_turns_per_s:.1f} ms "
        f"per turn; a full engine serves ~{full_engine_turns_per_s:.0f} turns/s "
        f"({mean_turn_s * 1e3:.0f} ms mean turn at full batch)"
    )
    print()
    speedup = print_results(results)
    if args.json:
        doc = {
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "config": asdict(config)
            | {"items": args.items, "concurrency": args.concurrency, "image_size": args.image_size},
            "calibration": {
                "client_turns_per_s": client_turns_per_s,
                "full_engine_turns_per_s": full_engine_turns_per_s,
            },
            "results": [asdict(r) for r in results],
            "speedup": speedup,
        }
        args.json.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
