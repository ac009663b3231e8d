"""Where the time of one cold_start_data run goes: each phase's wall time, driver CPU and worker
CPU, and how evenly the workers shared the main stage.

python benchmarks/stage_phases.py [--samples 1000] [--workers 2]

Runs the real stage (`run_pipeline.py`'s main, FnApiRunner multi-processing) in this process as
the driver, into a temporary folder, and times what the runner does by wrapping two of its
methods (running one fused stage's bundle, closing the workers); nothing in the stage changes.
Phases: interpreter imports; set-up and pipeline construction (output folder, config.json, our
transforms, Beam's translation and fusion); the first fused stage, which starts the worker
processes (they import Beam and the stage); the main fused stage (generate, judge, write
images: the part the workers share); the fused stages after it (counts, parts, metrics; each
reads what the driver buffered); closing the workers. Driver CPU is this process's; worker CPU
is that of its child processes, read from /proc. Everything but the main stage is serial time:
the same with 1 worker or 2 (Amdahl), and the line at the end gives the speed-up it allows on 2
dedicated cores.
"""

from __future__ import annotations

import time

STARTED = time.monotonic()

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apache_beam.runners.portability.fn_api_runner import fn_runner, worker_handlers  # noqa: E402
from drawreason.cli.main import main as run_pipeline  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
IMPORTED = time.monotonic()


def child_cpu() -> dict[int, float]:
    """{pid: CPU seconds} of every live descendant of this process."""
    parents: dict[int, list[tuple[int, float]]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        cpu = (int(fields[11]) + int(fields[12])) / TICK
        parents.setdefault(int(fields[1]), []).append((int(entry), cpu))
    found, todo = {}, [os.getpid()]
    while todo:
        for pid, cpu in parents.get(todo.pop(), ()):
            found[pid] = cpu
            todo.append(pid)
    return found


class Phases:
    """Marks on one timeline: (label, wall s, driver CPU s, {worker pid: CPU s})."""

    def __init__(self) -> None:
        self.marks: list[tuple[str, float, float, dict[int, float]]] = []
        self.finished: dict[int, float] = {}  # main stage: when each worker's CPU last grew

    def mark(self, label: str) -> None:
        self.marks.append((label, time.monotonic(), time.process_time(), child_cpu()))

    def wrap(self, owner: type, name: str, label: str) -> None:
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            self.mark(f"{label} start")
            try:
                return original(*args, **kwargs)
            finally:
                self.mark(f"{label} end")

        setattr(owner, name, timed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    phases = Phases()
    bundles: list[tuple[str, float, float, float, float]] = []
    main_stage: dict[str, object] = {}
    run_bundle = fn_runner.FnApiRunner._execute_bundle

    def timed_bundle(runner, context, manager, bundle_input):
        before, wall, cpu = child_cpu(), time.monotonic(), time.process_time()
        result = run_bundle(runner, context, manager, bundle_input)
        after = child_cpu()
        name = manager.stage.name
        spent = {pid: after[pid] - before.get(pid, 0.0) for pid in after}
        bundles.append(
            (name, wall, time.monotonic(), time.process_time() - cpu, sum(spent.values()))
        )
        if "Generate" in name:
            main_stage["per_worker"] = spent
        return result

    fn_runner.FnApiRunner._execute_bundle = timed_bundle
    phases.wrap(worker_handlers.WorkerHandlerManager, "close_all", "close")
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="stage-phases-") as tmp:
        phases.mark("run start")
        argv = ["--stage", "cold_start_data", "--num-samples", str(args.samples)]
        argv += ["--output", str(Path(tmp) / "run"), f"--direct_num_workers={args.workers}"]
        code = run_pipeline(argv)
        phases.mark("run end")
    if code:
        return code
    marks = {label: (wall, cpu) for label, wall, cpu, _ in phases.marks}
    main_index = next(i for i, b in enumerate(bundles) if "Generate" in b[0])
    first, main_b, after = bundles[0], bundles[main_index], bundles[main_index + 1 :]
    rows = [
        ("imports (driver)", IMPORTED - STARTED, None, 0.0),
        (
            "set-up, construction",
            first[1] - marks["run start"][0],
            None,
            0.0,
        ),
        ("first stage: workers start", first[2] - first[1], first[3], first[4]),
        ("main stage (parallel)", main_b[2] - main_b[1], main_b[3], main_b[4]),
        (
            f"{len(after)} stages after it",
            sum(b[2] - b[1] for b in after),
            sum(b[3] for b in after),
            sum(b[4] for b in after),
        ),
        ("closing the workers", marks["close end"][0] - marks["close start"][0], None, 0.0),
        ("rest (metrics, run.json)", marks["run end"][0] - marks["close end"][0], None, 0.0),
    ]
    print(f"cold_start_data, {args.samples} samples, {args.workers} workers; load {load}")
    print(f"{'phase':<30} {'wall_s':>7} {'driver_cpu':>10} {'worker_cpu':>10}")
    for label, wall, driver, workers in rows:
        driver_text = f"{driver:10.2f}" if driver is not None else f"{'':>10}"
        print(f"{label:<30} {wall:7.2f} {driver_text} {workers:10.2f}")
    total = marks["run end"][0] - STARTED
    serial = total - (main_b[2] - main_b[1])
    print(f"{'whole invocation':<30} {total:7.2f} {time.process_time():10.2f}")
    per_worker = {p: round(c, 2) for p, c in main_stage.get("per_worker", {}).items() if c > 0.1}
    print(f"main stage CPU per worker: {per_worker}")
    parallel = main_b[4]
    print(
        f"serial {serial:.1f} s wall, main stage {parallel:.1f} s worker CPU: on 2 dedicated "
        f"cores 2 workers can be at most {(serial + parallel) / (serial + parallel / 2):.2f}x "
        f"as fast as 1 (Amdahl, with this run's serial time); load now {os.getloadavg()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
