"""What a command prints: quiet logging, and the Beam worker noise kept off the terminal.

Imported by run_pipeline.py before anything imports apache_beam, so the logging filter is in
place when `apache_beam.io.gcp` warns on import that apitools is missing.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
import threading
from pathlib import Path
from typing import IO

# Lines of Beam's local worker processes that say nothing to a user: harness start/stop INFO
# chatter, the apitools warning every process prints on import, a warning about a directory
# local workers never have.
_NOISE = re.compile(
    r"^(INFO|DEBUG):"
    r"|apitools not found"
    r"|No semi_persistent_directory found"
    r"|Discarding unparseable args"
)
_QUIET_LOGGERS = ("apache_beam", "httpx", "httpx2", "openai", "urllib3", "filelock")


class DropNoise(logging.Filter):
    """Drops log records matching the worker-noise patterns (the apitools import warning)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _NOISE.search(f"{record.levelname}:{record.getMessage()}")


def setup_logging(verbose: bool, stream: IO[str] | None = None) -> None:
    """WARNING and up from every library (INFO with `verbose`), one plain line each."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    if not verbose:
        handler.addFilter(DropNoise())
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)
    # Its relay of worker logs repeats what the workers print themselves.
    logging.getLogger("apache_beam.runners.portability.local_job_service").setLevel(logging.ERROR)


class WorkerStderrFilter:
    """Routes fd 2 of this process, and so of every local worker process it starts, through a
    pipe; a thread forwards each line to the real stderr unless it is harness noise (all lines
    are forwarded with `verbose`). After `silence()` (Ctrl-C) nothing more is forwarded: dying
    workers print their tracebacks into the void. `sys.stderr` keeps writing to the real stderr
    directly, so the driver's own progress bars and messages are never line-buffered.
    """

    def __init__(self, verbose: bool = False) -> None:
        self.verbose = verbose
        self.silent = False
        self._saved = -1
        self._read = -1
        self._thread: threading.Thread | None = None
        self._old_stderr = sys.stderr

    def __enter__(self) -> WorkerStderrFilter:
        sys.stderr.flush()
        self._saved = os.dup(2)
        self._read, write = os.pipe()
        os.dup2(write, 2)
        os.close(write)
        sys.stderr = open(  # noqa: SIM115 - lives as long as the filter
            self._saved, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False
        )
        self._thread = threading.Thread(target=self._forward, name="stderr-filter", daemon=True)
        self._thread.start()
        return self

    def silence(self) -> None:
        self.silent = True

    def _forward(self) -> None:
        with open(self._read, "rb", closefd=True) as pipe:
            for raw in pipe:
                if self.silent:
                    continue
                line = raw.decode("utf-8", errors="replace")
                if self.verbose or not _NOISE.search(line):
                    os.write(self._saved, raw)

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        sys.stderr.flush()
        os.dup2(self._saved, 2)  # closes the pipe's last write end held by this process
        sys.stderr = self._old_stderr
        if self._thread is not None:
            # Worker processes may still hold the write end: wait a little, never for them.
            self._thread.join(timeout=1)
            if self._thread.is_alive():
                return  # it still forwards to the saved descriptor; the process exits soon
        os.close(self._saved)


def child_processes(pid: int) -> list[int]:
    """Every descendant of `pid`, children first (Linux /proc; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited meanwhile
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(0), []):
            found.append(child)
            queue.append(child)
    return found


def stop_child_processes() -> None:
    """SIGTERM to the local Beam workers this process started: left alone, a worker busy with
    a bundle outlives an interrupted driver and keeps its terminal (or pipe) open."""
    for pid in child_processes(os.getpid()):
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass  # already gone
