"""Stage progress: workers tick counts into a shared folder, the driver shows one display.

Local runners (FnApiRunner in- or multi-process, Prism) run their workers on this machine, so a
folder named by $DRAWREASON_PROGRESS_DIR is a channel every worker can write and the driver can
read while `Pipeline.run` blocks (Beam metrics reach the driver only when the run is over).
Remote workers (Dataflow, Flink, Spark) do not inherit the variable: they tick nothing, the
driver shows no progress and the run's summary still comes from metrics.json.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

PROGRESS_ENV = "DRAWREASON_PROGRESS_DIR"
WRITE_EVERY_S = 0.5  # a worker rewrites its count file at most this often
_SLUG_RE = re.compile(r"[^a-z0-9]+")


def phase_slug(phase: str) -> str:
    return _SLUG_RE.sub("-", phase.lower()).strip("-")


class ProgressTicker:
    """Counts one phase's items on one worker and publishes the count for the driver.

    A no-op when $DRAWREASON_PROGRESS_DIR is unset (remote workers, tests without a driver).
    """

    def __init__(self, phase: str) -> None:
        self.phase = phase
        self.count = 0
        self.last = 0.0
        folder = os.environ.get(PROGRESS_ENV, "")
        self.path = (
            Path(folder) / f"{phase_slug(phase)}.{os.getpid()}-{id(self):x}" if folder else None
        )

    def tick(self, n: int = 1) -> None:
        self.count += n
        now = time.monotonic()
        if self.path is not None and now - self.last >= WRITE_EVERY_S:
            self.last = now
            self.flush()

    def flush(self) -> None:
        if self.path is None:
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            tmp.write_text(str(self.count), encoding="ascii")
            os.replace(tmp, self.path)
        except OSError:
            self.path = None  # the driver removed the folder: the run is ending

    def __del__(self) -> None:
        self.flush()


def read_counts(folder: Path) -> dict[str, int]:
    """Phase slug -> items done, summed over every worker's count file."""
    counts: dict[str, int] = {}
    try:
        entries = list(folder.iterdir())
    except OSError:
        return counts
    for entry in entries:
        if entry.name.endswith(".tmp"):
            continue
        slug = entry.name.split(".", 1)[0]
        try:
            n = int(entry.read_text(encoding="ascii") or 0)
        except (OSError, ValueError):
            continue  # replaced while reading: the next poll sees it
        counts[slug] = counts.get(slug, 0) + n
    return counts


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


def format_progress(phase: str, done: int, total: int | None, elapsed: float) -> str:
    """`teacher trajectories 12/40 (30%) 1.5/s ETA 0:19`; without a total, count and rate."""
    rate = done / elapsed if elapsed > 0 else 0.0
    text = f"{phase} {done}"
    if total:
        text += f"/{total} ({min(done / total, 1.0):.0%})"
    text += f" {rate:.1f}/s"
    if total and rate > 0 and done < total:
        text += f" ETA {_duration((total - done) / rate)}"
    else:
        text += f" in {_duration(elapsed)}"
    return text


class ProgressDisplay:
    """The driver's one progress display: tqdm bars on a terminal, else one line per phase every
    `every_s` seconds and a last line per phase when the run ends.

    `phases` maps each phase (as workers name it) to its total, or None when unknown upfront.
    """

    def __init__(
        self,
        folder: Path,
        phases: Mapping[str, int | None],
        stream: IO[str] | None = None,
        every_s: float = 30.0,
        poll_s: float = 0.5,
    ) -> None:
        self.folder = folder
        self.phases = dict(phases)
        self.stream = stream or sys.stderr
        self.every_s = every_s
        self.poll_s = poll_s
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.bars: dict[str, object] = {}
        self.last_line = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)

    def __enter__(self) -> ProgressDisplay:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.start = self.last_line = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if exc_type is None:
            self._show(final=True)
        for bar in self.bars.values():
            bar.close()  # type: ignore[attr-defined]

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            self._show(final=False)

    def _show(self, final: bool) -> None:
        counts = read_counts(self.folder)
        now = time.monotonic()
        lines = []
        for phase, total in self.phases.items():
            done = counts.get(phase_slug(phase), 0)
            if not done:
                continue  # not started, or a phase this run has no items for
            if self.tty:
                self._bar(phase, total, done)
            else:
                lines.append(format_progress(phase, done, total, now - self.start))
        if self.tty:
            return
        if final or now - self.last_line >= self.every_s:
            self.last_line = now
            for line in lines:
                print(line, file=self.stream, flush=True)

    def _bar(self, phase: str, total: int | None, done: int) -> None:
        from tqdm import tqdm

        bar = self.bars.get(phase)
        if bar is None:
            bar = tqdm(
                total=total,
                desc=phase,
                file=self.stream,
                position=len(self.bars),
                unit="it",
                dynamic_ncols=True,
                leave=True,
            )
            self.bars[phase] = bar
        bar.update(max(done - bar.n, 0))  # type: ignore[attr-defined]
