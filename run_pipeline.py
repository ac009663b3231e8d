"""`python run_pipeline.py --stage ...`: the documented entry of a checkout, the same command as
the installed `drawreason` (cli/main.py)."""

import sys

from drawreason.cli.main import command, main  # noqa: F401  (main: tests and benchmarks call it)

if __name__ == "__main__":
    sys.exit(command())
