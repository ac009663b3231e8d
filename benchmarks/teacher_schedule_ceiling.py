"""How busy can any client keep the simulated engine? An event simulation of the workload of
benchmarks/teacher_stage_throughput.py (same seeded trajectory plans, same engine timing model
as benchmarks/sim_engine_server.py), with no client cost but a fixed reply-to-next-request
time, for several ways of ordering the engine's queue.

python benchmarks/teacher_schedule_ceiling.py [--items 256 1024] [--open 64 128 256]
    [--turnaround-ms 30] [--seeds 3]

Busy share is the stage benchmark's: ideal makespan / actual, ideal the larger of total
slot-seconds / capacity and the longest trajectory's own service time. Orders of the queue:
`fifo` (the simulated server and vLLM's default), `deepest-turn-first` and
`fewest-turns-first` (what a client or vLLM's priority scheduling could do knowing only the
turn), and `longest-remaining-first`, which knows every trajectory's future turns: no client
can, so it marks what the ideal assumes. Questions are split between workers at random, as
Beam's Reshuffle does; each worker opens up to `--open` trajectories in input order.
"""

from __future__ import annotations

import argparse
import heapq
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.sim_engine_server import SimConfig, TrajectoryPlan, plan_trajectory  # noqa: E402

ORDERS = ("fifo", "deepest-turn-first", "fewest-turns-first", "longest-remaining-first")


def simulate(
    plans: list[TrajectoryPlan],
    config: SimConfig,
    order: str,
    workers: int,
    open_per_worker: int,
    turnaround_s: float,
    seed: int,
) -> float:
    """The busy share of one simulated teacher phase."""
    rng = random.Random(seed)
    queues: list[list[int]] = [[] for _ in range(workers)]
    for item in range(len(plans)):
        queues[rng.randrange(workers)].append(item)
    owner = {item: w for w, items in enumerate(queues) for item in items}
    prefill = config.prefill_s / config.per_token_s
    turn = dict.fromkeys(range(len(plans)), 0)
    opened = [0] * workers
    next_job = [0] * workers
    ready: list[tuple[float, int, int]] = []  # (time, sequence, item): requests on their way
    waiting: list[tuple[tuple[int, int], int]] = []  # the engine's queue, by `order`
    running: dict[int, float] = {}  # item -> decode steps left
    started: dict[int, float] = {}
    served: dict[int, float] = {}
    finished: dict[int, float] = {}
    counter = 0

    def priority(item: int, sent: int) -> tuple[int, int]:
        """The engine's queue order; ties (and `fifo`) by the order requests were sent."""
        plan, t = plans[item], turn[item]
        if order == "deepest-turn-first":
            return (-t, sent)
        if order == "fewest-turns-first":
            return (t, sent)
        if order == "longest-remaining-first":
            return (-sum(plan.tokens[t:]), sent)
        return (0, sent)

    def send(item: int, at: float) -> None:
        nonlocal counter
        counter += 1
        heapq.heappush(ready, (at, counter, item))

    def fill(worker: int, now: float) -> None:
        while next_job[worker] < len(queues[worker]) and opened[worker] < open_per_worker:
            send(queues[worker][next_job[worker]], now)
            next_job[worker] += 1
            opened[worker] += 1

    for worker in range(workers):
        fill(worker, 0.0)
    now = 0.0
    while ready or waiting or running:
        step = config.step_s(len(running)) if running else 0.0
        done_at = now + min(running.values()) * step if running else float("inf")
        arrival = ready[0][0] if ready else float("inf")
        later = min(done_at, arrival)
        for item in running:
            running[item] -= (later - now) / step
        now = later
        for item in [i for i, left in running.items() if left <= 1e-9]:
            del running[item]
            served[item] = served.get(item, 0.0) + now - started[item]
            turn[item] += 1
            if turn[item] > plans[item].draw_turns:
                finished[item] = now
                opened[owner[item]] -= 1
                fill(owner[item], now)
            else:
                send(item, now + turnaround_s)
        while ready and ready[0][0] <= now:
            _, sent, item = heapq.heappop(ready)
            heapq.heappush(waiting, (priority(item, sent), item))
        while waiting and len(running) < config.capacity:
            _, item = heapq.heappop(waiting)
            plan = plans[item]
            running[item] = plan.tokens[min(turn[item], plan.draw_turns)] + prefill
            started[item] = now
    ideal = max(sum(served.values()) / config.capacity, max(served.values()))
    return ideal / max(finished.values())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--open", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--capacity", type=int, default=32)
    parser.add_argument("--turnaround-ms", type=float, default=30.0)
    parser.add_argument("--seeds", type=int, default=3, help="random splits between workers")
    args = parser.parse_args()
    config = SimConfig(capacity=args.capacity)
    print(
        f"capacity {args.capacity}, {args.workers} workers, reply to next request "
        f"{args.turnaround_ms:.0f} ms; busy share, mean (min-max) over {args.seeds} splits"
    )
    header = f"{'items':>6} {'open/worker':>11}  " + "  ".join(f"{o:>23}" for o in ORDERS)
    print(header)
    print("-" * len(header))
    for items in args.items:
        plans = [plan_trajectory(f"item{i:05d}", config) for i in range(items)]
        for open_per_worker in args.open:
            cells = []
            for order in ORDERS:
                shares = [
                    simulate(
                        plans,
                        config,
                        order,
                        args.workers,
                        open_per_worker,
                        args.turnaround_ms / 1e3,
                        seed,
                    )
                    for seed in range(args.seeds)
                ]
                mean = sum(shares) / len(shares)
                cells.append(f"{mean:6.1%} ({min(shares):.1%}-{max(shares):.1%})")
            print(f"{items:>6} {open_per_worker:>11}  " + "  ".join(f"{c:>23}" for c in cells))


if __name__ == "__main__":
    main()
