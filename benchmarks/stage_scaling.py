"""Scaling of the real cold_start_data stage on Beam: samples/s by worker count, peak memory by
run size.

python benchmarks/stage_scaling.py [--samples 1000 6000] [--workers 1 2] [--pairs 1] [--no-large]
                                   [--json out.json]

Three runs: the smaller size on 1 and on 2 workers (samples/s), the larger size on 2 workers
(peak memory against the smaller size's on 2 workers). `--pairs N` repeats the first two
back-to-back N times (a speed-up per pair), `--no-large` leaves the third out.

Each run is `run_pipeline.py --stage cold_start_data` in its own process (FnApiRunner in
multi-processing mode, `--direct_num_workers=W`), into a fresh temporary folder. Throughput is
generated samples (metrics.json `input`) over the pipeline's wall time (run.json `elapsed_s`,
from pipeline start to the last file written, not interpreter start-up). Peak memory is the
largest sum of resident set sizes over the command's whole process tree (the driver, Beam's
worker processes and anything they start), sampled from /proc every 0.1 s; shared pages are
counted once per process, so it is an upper bound of what the machine needs.

Because the machine may be shared, every run also reports what load does not distort as much:
the CPU seconds of the whole process tree (driver and workers, from the kernel's accounting of
the ended child), the invocation's wall time (interpreter start-up and imports included), and
the seconds the worker processes were ready to run but waited for a core (the kernel's
run-queue delay, /proc/<pid>/task/<tid>/schedstat, sampled with the memory). On an idle
2-core machine that wait stays near 0 with 2 workers; when it does not, other work took the
cores and the speed-up measured is the machine's, not the stage's.

Targets (issue 14): 2 workers at least 1.7x the samples/s of 1 on 2 cores; the peak at the
larger run size within 1.3x of the smaller. The load average is printed beside the figures:
the machine is shared, and other work on it lowers the 2-worker speed-up.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_SPEEDUP = 1.7
TARGET_MEMORY_RATIO = 1.3
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class StageRun:
    samples: int
    workers: int
    elapsed_s: float  # the pipeline's wall time (run.json)
    samples_per_s: float
    peak_rss_mb: float  # the whole process tree, sampled
    kept: int
    output_mb: float
    load_before: float  # 1-minute load average when the run started
    load_after: float
    process_s: float  # wall time of the whole run_pipeline.py invocation
    cpu_s: float  # user + system CPU seconds of the whole process tree
    worker_cpu_s: float  # CPU seconds of the worker processes (schedstat, sampled)
    worker_wait_s: float  # seconds the worker processes waited for a core (run-queue delay)


def _children() -> dict[int, list[int]]:
    """{parent pid: child pids} of every process visible in /proc."""
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode("utf-8", "replace")
        except OSError:
            continue  # the process ended while we looked
        # The command name may hold spaces and parentheses: fields start after the last ')'.
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _descendants(pid: int, tree: dict[int, list[int]]) -> list[int]:
    found, todo = [], list(tree.get(pid, ()))
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(tree.get(current, ()))
    return found


def tree_rss(pid: int, tree: dict[int, list[int]] | None = None) -> int:
    """Resident bytes of `pid` and all its descendants."""
    total = 0
    for current in [pid, *_descendants(pid, tree if tree is not None else _children())]:
        try:
            with open(f"/proc/{current}/statm", "rb") as f:
                total += int(f.read().split()[1]) * PAGE
        except OSError:
            continue
    return total


def thread_schedstats(pid: int) -> dict[int, tuple[int, int]]:
    """{thread id: (ns on a core, ns waiting for a core)} of every thread of `pid`."""
    stats = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return stats
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as f:
                run_ns, wait_ns = f.read().split()[:2]
        except (OSError, ValueError):
            continue
        stats[int(tid)] = (int(run_ns), int(wait_ns))
    return stats


class PeakSampler(threading.Thread):
    """Samples the process tree of `pid` every `interval` s until stopped: keeps the peak
    resident size, and the last schedstat of every thread of the Beam worker processes (a
    thread that ends between two samples loses at most `interval` of its figures)."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak = pid, interval, 0
        self.workers: dict[int, tuple[int, int]] = {}  # thread id -> (run ns, wait ns)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            tree = _children()
            self.peak = max(self.peak, tree_rss(self.pid, tree))
            for child in _descendants(self.pid, tree):
                if _is_worker(child):
                    self.workers.update(thread_schedstats(child))
            self.done.wait(self.interval)

    def worker_seconds(self) -> tuple[float, float]:
        """(CPU seconds, seconds waiting for a core) summed over the workers' threads."""
        run = sum(r for r, _ in self.workers.values())
        wait = sum(w for _, w in self.workers.values())
        return run / 1e9, wait / 1e9


def _is_worker(pid: int) -> bool:
    """A Beam SDK worker process (FnApiRunner multi-processing starts them with -m)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"sdk_worker_main" in f.read()
    except OSError:
        return False


def _folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def run_stage(samples: int, workers: int, seed: int = 0) -> StageRun:
    """One cold_start_data run of `samples` generated samples on `workers` worker processes."""
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="stage-scaling-") as tmp:
        out = Path(tmp) / "run"
        command = [
            sys.executable,
            str(ROOT / "run_pipeline.py"),
            "--stage",
            "cold_start_data",
            "--num-samples",
            str(samples),
            "--seed",
            str(seed),
            "--output",
            str(out),
            f"--direct_num_workers={workers}",
        ]
        proc = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        sampler = PeakSampler(proc.pid)
        sampler.start()
        stdout, stderr = proc.communicate()
        process_s = time.monotonic() - started
        sampler.done.set()
        sampler.join()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        worker_cpu, worker_wait = sampler.worker_seconds()
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{stdout[-2000:]}\n{stderr[-3000:]}")
        metrics = json.loads((out / "metrics.json").read_text())
        elapsed = json.loads((out / "run.json").read_text())["elapsed_s"]
        return StageRun(
            samples=samples,
            workers=workers,
            elapsed_s=elapsed,
            samples_per_s=round(metrics["input"] / elapsed, 2),
            peak_rss_mb=round(sampler.peak / 1e6, 1),
            kept=metrics["kept"],
            output_mb=round(_folder_mb(out), 1),
            load_before=round(load, 2),
            load_after=round(os.getloadavg()[0], 2),
            process_s=round(process_s, 2),
            cpu_s=round(cpu, 2),
            worker_cpu_s=round(worker_cpu, 2),
            worker_wait_s=round(worker_wait, 2),
        )


def _row(run: StageRun) -> str:
    return (
        f"{run.samples:>7} {run.workers:>7} {run.elapsed_s:>9.1f} {run.samples_per_s:>9.1f} "
        f"{run.peak_rss_mb:>10.0f} {run.kept:>6} {run.output_mb:>8.1f} "
        f"{run.load_before:>5.1f}-{run.load_after:<5.1f} {run.process_s:>9.1f} {run.cpu_s:>6.1f} "
        f"{run.worker_cpu_s:>7.1f} {run.worker_wait_s:>8.1f}"
    )


HEADER = (
    f"{'samples':>7} {'workers':>7} {'elapsed_s':>9} {'samples/s':>9} {'peak_RSS_MB':>10} "
    f"{'kept':>6} {'out_MB':>8} {'load':>11} {'process_s':>9} {'cpu_s':>6} {'wrk_cpu':>7} "
    f"{'wrk_wait':>8}"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, nargs=2, default=[1000, 6000], help="run sizes")
    parser.add_argument("--workers", type=int, nargs=2, default=[1, 2])
    parser.add_argument("--pairs", type=int, default=1, help="back-to-back runs of the two sizes")
    parser.add_argument("--no-large", action="store_true", help="leave the memory run out")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    small, large = args.samples
    few, many = args.workers

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()}")
    print(HEADER)
    runs, speedups = [], []
    for _ in range(args.pairs):
        pair = [run_stage(small, few), run_stage(small, many)]
        for run in pair:
            print(_row(run), flush=True)
        runs += pair
        speedups.append(pair[1].samples_per_s / pair[0].samples_per_s)
        print(
            f"speed-up {many} vs {few} workers at {small} samples: {speedups[-1]:.2f}x "
            f"(target >= {TARGET_SPEEDUP}x), whole invocation "
            f"{pair[0].process_s / pair[1].process_s:.2f}x",
            flush=True,
        )
    result: dict = {"speedups": [round(s, 3) for s in speedups]}
    if not args.no_large:
        runs.append(run_stage(large, many))
        print(_row(runs[-1]), flush=True)
        ratio = runs[-1].peak_rss_mb / runs[1].peak_rss_mb
        result["memory_ratio"] = round(ratio, 3)
        print(
            f"peak RSS {large} vs {small} samples ({many} workers): {ratio:.2f}x "
            f"(target <= {TARGET_MEMORY_RATIO}x)"
        )
    print(f"load after: {os.getloadavg()}")
    if args.json:
        args.json.write_text(json.dumps({"runs": [asdict(r) for r in runs], **result}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
