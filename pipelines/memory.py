"""Keeping local runs' memory flat: glibc's allocator settings and handing freed pages back.

A local run (FnApiRunner) moves every element between its driver and its worker processes as
gRPC messages of encoded bytes; with glibc's default thresholds the freed buffers stay in the
heaps (many small holes between live blocks, one heap per thread that allocated), so resident
memory grows with the run although Python holds about the same (benchmarks/stage_scaling.py,
README "Scaling of the whole stage"). Two remedies, both no-ops off glibc (musl, macOS):

- `tune_allocator()`: blocks above 128 KB get their own mapping, returned when freed, and at most
  two heaps per process; set as environment variables for the worker processes a local runner
  starts (a value the user set wins), and with mallopt for this process.
- `release_free_memory()`: malloc_trim(0), which returns the free pages inside every heap, not
  only at its top; `Trimmer` calls it every few seconds in the driver, and the stage's
  generating DoFn every `TRIM_EVERY` samples in the workers.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading

# glibc's mallopt parameters (malloc.h) and their environment-variable spelling.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8
SETTINGS = {
    "MALLOC_MMAP_THRESHOLD_": (_M_MMAP_THRESHOLD, 131072),
    "MALLOC_TRIM_THRESHOLD_": (_M_TRIM_THRESHOLD, 131072),
    "MALLOC_ARENA_MAX": (_M_ARENA_MAX, 2),
}
TRIM_EVERY = 64  # samples between two malloc_trim calls in a worker
TRIM_INTERVAL_S = 2.0  # seconds between two malloc_trim calls in the driver


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


_LIBC = _libc()


def tune_allocator() -> None:
    """Allocator settings for this process (mallopt) and the processes it starts (environment);
    values already in the environment are kept."""
    for variable, (param, value) in SETTINGS.items():
        os.environ.setdefault(variable, str(value))
        if _LIBC is not None:
            _LIBC.mallopt(param, int(os.environ[variable]))


def release_free_memory() -> None:
    """Return the allocator's free pages to the system (glibc's malloc_trim)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


class Trimmer:
    """Calls release_free_memory every `interval` seconds while the `with` block runs."""

    def __init__(self, interval: float = TRIM_INTERVAL_S) -> None:
        self.interval = interval
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, name="malloc-trim", daemon=True)

    def _run(self) -> None:
        while not self.done.wait(self.interval):
            release_free_memory()

    def __enter__(self) -> Trimmer:
        if _LIBC is not None:
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        if self.thread.is_alive():
            self.thread.join()
