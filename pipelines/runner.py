"""Beam pipeline options with a safe local default, and the code version of a run."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from apache_beam.options.pipeline_options import PipelineOptions, SetupOptions, StandardOptions

# FnApiRunner is the engine DirectRunner itself falls back to for batch pipelines. Naming it
# directly skips DirectRunner's first attempt to download the Prism runner, which hangs offline.
LOCAL_RUNNER = "FnApiRunner"


def local_defaults(num_workers: int | None = None) -> list[str]:
    """Multi-processing local execution with one worker per core."""
    workers = num_workers or os.cpu_count() or 1
    return [
        f"--runner={LOCAL_RUNNER}",
        "--direct_running_mode=multi_processing",
        f"--direct_num_workers={workers}",
    ]


def export_project_path() -> None:
    """Let local worker processes import this project even when it is not pip-installed.

    Remote runners get the code through --setup_file instead.
    """
    root = str(Path(__file__).resolve().parent.parent)
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if root not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([root, *filter(None, paths)])


def pipeline_options(beam_argv: Sequence[str], local_workers: int | None = None) -> PipelineOptions:
    """Options from the user's Beam flags, passed through untouched.

    Without `--runner` the local default above is used, with `local_workers` worker processes
    (default: one per core) unless the flags say otherwise; any runner's own flags
    (`--project`, `--temp_location`, `--flink_master`, ...) are Beam's to interpret.
    """
    argv = list(beam_argv)
    if not any(a == "--runner" or a.startswith("--runner=") for a in argv):
        argv = local_defaults(local_workers) + argv
    export_project_path()
    options = PipelineOptions(argv)
    # The DoFns reference module-level code, not pickled globals of __main__.
    options.view_as(SetupOptions).save_main_session = False
    return options


def runner_name(options: PipelineOptions) -> str:
    return str(options.view_as(StandardOptions).runner or LOCAL_RUNNER)


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True, timeout=10
    ).stdout.strip()


def code_version() -> str:
    """The git commit of the checkout ("-dirty" with local changes), else the package version."""
    root = Path(__file__).resolve().parent.parent
    try:
        sha = _git(root, "rev-parse", "--short=12", "HEAD")
        dirty = _git(root, "status", "--porcelain", "--untracked-files=no")
        return f"git:{sha}{'-dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        try:
            return f"pkg:{metadata.version('drawreason')}"
        except metadata.PackageNotFoundError:
            return "unknown"
