"""Scaling of the real cold_start_data stage on Beam: samples/s by worker count, peak memory by
run size.

python benchmarks/stage_scaling.py [--samples 1000 6000] [--workers 1 2] [--json out.json]

Three runs: the smaller size on 1 and on 2 workers (samples/s), the larger size on 2 workers
(peak memory against the smaller size's on 2 workers).

Each run is `run_pipeline.py --stage cold_start_data` in its own process (FnApiRunner in
multi-processing mode, `--direct_num_workers=W`), into a fresh temporary folder. Throughput is
generated samples (metrics.json `input`) over the pipeline's wall time (run.json `elapsed_s`,
from pipeline start to the last file written, not interpreter start-up). Peak memory is the
largest sum of resident set sizes over the command's whole process tree (the driver, Beam's
worker processes and anything they start), sampled from /proc every 0.1 s; shared pages are
counted once per process, so it is an upper bound of what the machine needs.

Targets (issue 14): 2 workers at least 1.7x the samples/s of 1 on 2 cores; the peak at the
larger run size within 1.3x of the smaller. The load average is printed beside the figures:
the machine is shared, and other work on it lowers the 2-worker speed-up.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
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


def tree_rss(pid: int) -> int:
    """Resident bytes of `pid` and all its descendants."""
    tree, total, todo = _children(), 0, [pid]
    while todo:
        current = todo.pop()
        todo.extend(tree.get(current, ()))
        try:
            with open(f"/proc/{current}/statm", "rb") as f:
                total += int(f.read().split()[1]) * PAGE
        except OSError:
            continue
    return total


class PeakSampler(threading.Thread):
    """Samples the process tree of `pid` every `interval` s until stopped; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak = pid, interval, 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
            self.done.wait(self.interval)


def _folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def run_stage(samples: int, workers: int, seed: int = 0) -> StageRun:
    """One cold_start_data run of `samples` generated samples on `workers` worker processes."""
    load = os.getloadavg()[0]
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
        sampler.done.set()
        sampler.join()
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
        )


def _row(run: StageRun) -> str:
    return (
        f"{run.samples:>7} {run.workers:>7} {run.elapsed_s:>9.1f} {run.samples_per_s:>9.1f} "
        f"{run.peak_rss_mb:>10.0f} {run.kept:>6} {run.output_mb:>8.1f} {run.load_before:>6.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, nargs=2, default=[1000, 6000], help="run sizes")
    parser.add_argument("--workers", type=int, nargs=2, default=[1, 2])
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    small, large = args.samples
    few, many = args.workers

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()}")
    print(f"{'samples':>7} {'workers':>7} {'elapsed_s':>9} {'samples/s':>9} "
          f"{'peak_RSS_MB':>10} {'kept':>6} {'out_MB':>8} {'load':>6}")  # fmt: skip
    runs = []
    for samples, workers in ((small, few), (small, many), (large, many)):
        runs.append(run_stage(samples, workers))
        print(_row(runs[-1]), flush=True)
    speedup = runs[1].samples_per_s / runs[0].samples_per_s
    ratio = runs[2].peak_rss_mb / runs[1].peak_rss_mb
    print(
        f"speed-up {many} vs {few} workers at {small} samples: {speedup:.2f}x "
        f"(target >= {TARGET_SPEEDUP}x)\n"
        f"peak RSS {large} vs {small} samples ({many} workers): {ratio:.2f}x "
        f"(target <= {TARGET_MEMORY_RATIO}x)\n"
        f"load after: {os.getloadavg()}"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "runs": [asdict(r) for r in runs],
                    "speedup": round(speedup, 3),
                    "memory_ratio": round(ratio, 3),
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
