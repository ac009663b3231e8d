"""The command line (`drawreason`, `python run_pipeline.py`): look a stage up, build its
config, run it on a Beam runner, print a summary."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import difflib
import json
import logging
import os
import re
import shutil
import signal
import sys
import textwrap
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from drawreason.pipelines.console import (
    DropNoise,
    WorkerStderrFilter,
    setup_logging,
    stop_child_processes,
)
from drawreason.pipelines.progress import PROGRESS_ENV

# Before apache_beam is imported (by cli.stages): its gcp package warns on import, through
# the root logger, that apitools is missing; that line opened every command, --help included.
logging.getLogger().addFilter(DropNoise())

from drawreason.cli.stages import (  # noqa: E402
    STAGES,
    OutputExistsError,
    StageCheckError,
    check_run_folder,
    failure_reason,
    format_summary,
)
from drawreason.inputs.sources import KINDS, SourceError, parse_input  # noqa: E402
from drawreason.publish.dataset import PublishError  # noqa: E402
from drawreason.schemas.config import (  # noqa: E402
    SECTIONS,
    ConfigError,
    build_config,
    config_sections,
    config_to_dict,
    merge_dicts,
)
from drawreason.trainer.grpo import GRPOConfig  # noqa: E402
from drawreason.trainer.sft import SFTConfig  # noqa: E402

DESCRIPTION = """\
Generate drawing-to-reason training data with Apache Beam.

Stages:
{stages}

Any option this program does not know is handed to Beam untouched, so the same stage runs
locally (default: Beam's FnApiRunner, one worker process per core) or on a cluster, e.g.
  --runner DataflowRunner --project P --region R --temp_location gs://B/tmp --setup_file ./setup.py
  --runner FlinkRunner --flink_master HOST:8081 --environment_type LOOPBACK
  --runner SparkRunner --spark_master_url spark://HOST:7077
Outputs may be local paths or gs:// / s3:// URIs. An option that neither this program nor
Beam knows is an error.

Exit status: 0 when the stage ran, even if filters rejected records (metrics.json counts them by
reason); 1 with a one-line reason when infrastructure failed: every record failed, or more than
--max-error-rate of them did (teacher errors and per-record errors), or the counts do not add
up; 2 for a usage error (bad option, config, input, missing run folder) found before anything
runs; 130 when interrupted (rerun the same command to resume: teacher replies are cached).
"""

OUR_OPTIONS = (
    "--stage",
    "--output",
    "--num-samples",
    "--seed",
    "--config",
    "--overwrite",
    "--input",
    "--teacher",
    "--teacher-endpoint",
    "--teacher-model",
    "--samples-per-item",
    "--temperature",
    "--top-p",
    "--max-tokens",
    "--repo-id",
    "--private",
    "--revision",
    "--data",
    "--model",
    "--compare",
    "--verbose",
    "--max-error-rate",
)
RUN_FOLDER_STAGES = {"report": "output", "push_to_hub": "output"}  # stage -> flag of its run dir
INTERRUPTED = "interrupted; rerun the same command to resume"
_KIND_RE = re.compile(r"^([A-Za-z][A-Za-z0-9_]+):(?!//)")
# Config keys of the same name: push_to_hub's, then the training stages'.
PLAIN_FLAGS = ("repo_id", "private", "revision", "data", "model", "compare")
TEACHER_FLAGS = {  # flag dest -> key in the stage config's `teacher`
    "teacher": "kind",
    "teacher_endpoint": "endpoint",
    "teacher_model": "model",
    "samples_per_item": "samples_per_item",
    "temperature": "temperature",
    "top_p": "top_p",
    "max_tokens": "max_tokens",
}


def build_parser() -> argparse.ArgumentParser:
    stages = "\n".join(
        textwrap.fill(f"{name}: {stage.summary}", 92, initial_indent="  ", subsequent_indent="    ")
        for name, stage in STAGES.items()
    )
    parser = argparse.ArgumentParser(
        prog="run_pipeline.py",
        description=DESCRIPTION.format(stages=stages),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--stage", required=True, choices=sorted(STAGES), help="stage to run")
    parser.add_argument(
        "--output",
        default="output",
        help="run directory (local path or gs:// / s3:// URI); default: ./output",
    )
    parser.add_argument(
        "--num-samples",
        type=int,
        help="generated items (mazes, scenes) in total across subsets, before filtering "
        "(stage default: 400; reflective_data 200)",
    )
    parser.add_argument("--seed", type=int, help="run seed; same seed, same output (default 0)")
    parser.add_argument(
        "--config",
        type=Path,
        help="JSON or YAML file with stage config keys (unknown keys are an error); "
        "command-line values override it",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier run with a different config in --output",
    )
    parser.add_argument(
        "--max-error-rate",
        type=float,
        default=0.5,
        metavar="R",
        help="exit 1 when more than this share of records failed (teacher errors, per-record "
        "errors; filter rejections do not count); default 0.5",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="show INFO logs, Beam's worker harness logs included (default: warnings only)",
    )
    real = parser.add_argument_group(
        "real data with a teacher VLM",
        textwrap.fill(
            "Each --input becomes its own subset, rolled out by the teacher (without --teacher "
            "the inputs are skipped and metrics.json says so). Teacher replies are cached under "
            "OUTPUT/cache/teacher: rerunning the same command after a crash re-sends only what "
            "is missing. The API key comes from $OPENAI_API_KEY (config teacher.api_key_env).",
            88,
        ),
    )
    real.add_argument(
        "--input",
        action="append",
        metavar="[KIND:]PATH",
        help="a QA source; KIND is generic (default; .jsonl/.json/.parquet), vilasr, spacer, "
        "spar or hf (a datasets folder or hub name); repeatable; more options per source "
        "(name, image_root, columns, limit) in --config `inputs`",
    )
    real.add_argument("--teacher", choices=["openai", "vllm"], help="teacher back end")
    real.add_argument(
        "--teacher-endpoint",
        metavar="URL",
        help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1 (openai)",
    )
    real.add_argument(
        "--teacher-model", metavar="NAME", help="served model name (openai) or path (vllm)"
    )
    real.add_argument(
        "--samples-per-item", type=int, metavar="K", help="trajectories per question (default 1)"
    )
    real.add_argument("--temperature", type=float, help="sampling temperature (default 0.7)")
    real.add_argument("--top-p", type=float, help="nucleus sampling top_p (default 0.95)")
    real.add_argument("--max-tokens", type=int, help="max tokens per teacher turn (default 1024)")
    hub = parser.add_argument_group("push_to_hub")
    hub.add_argument("--repo-id", metavar="ORG/NAME", help="the Hub dataset repo to push to")
    hub.add_argument(
        "--private", action="store_true", default=None, help="create the repo as private"
    )
    hub.add_argument("--revision", metavar="BRANCH", help="push to this branch (default main)")
    train = parser.add_argument_group(
        "train_sft, train_grpo",
        textwrap.fill(
            "Checkpoints go to OUTPUT/checkpoint-N (fp32 master weights and trainer state, for "
            "exact resume); when the run completes, OUTPUT/final/ holds the trained model in "
            "the start model's own dtype: the folder to serve (scripts/serve_vllm_cpu.sh) or "
            "train on next. Every other option is a --config key (or a flag of "
            "`python -m drawreason.trainer sft|grpo`), with its default:",
            88,
        )
        + "\n"
        + "\n".join(
            textwrap.fill(
                f"{name}: " + ", ".join(config_key_defaults(cls)),
                88,
                initial_indent="  ",
                subsequent_indent="    ",
            )
            for name, cls in (("train_sft", SFTConfig), ("train_grpo", GRPOConfig))
        ),
    )
    train.add_argument("--data", metavar="RUN_DIR", help="the run directory to train on")
    train.add_argument("--model", metavar="PATH", help="the model (or checkpoint) to start from")
    evaluation = parser.add_argument_group("evaluate")
    evaluation.add_argument(
        "--compare",
        nargs=2,
        metavar=("RUN_A", "RUN_B"),
        help="print the relative change between two evaluation runs' results (with --stage "
        "evaluate; nothing is rolled out)",
    )
    return parser


def config_key_defaults(config_class: type) -> list[str]:
    """`key=default` for every field of a config dataclass but the ones with flags here."""
    out = []
    sections = config_sections(config_class)
    for f in dataclasses.fields(config_class):
        if f.name in ("data", "model", "output"):
            continue
        if SECTIONS in f.metadata:  # one key per entry: a generator's name and its config
            out += [f"{key}={kind()}" for key, (name, kind) in sections.items() if name == f.name]
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        out.append(f"{f.name}={default!r}" if isinstance(default, str) else f"{f.name}={default}")
    return out


def load_config_file(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix not in (".yaml", ".yml", ".json"):
        raise ConfigError(f"{path}: config files are .json, .yaml or .yml")
    if path.suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of config keys")
    return data


def _beam_parser() -> argparse.ArgumentParser:
    """An argument parser holding every option of every registered Beam options class (the
    same classes `PipelineOptions.get_all_options` consults)."""
    from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

    parser = _BeamArgumentParser(allow_abbrev=False)
    classes: dict[str, type] = {}
    for cls in PipelineOptions.__subclasses__():
        classes.setdefault(str(cls), cls)
    for cls in classes.values():
        cls._add_argparse_args(parser)  # noqa: SLF001 - Beam's own registry of flags
    return parser


def split_beam_args(unknown: Sequence[str]) -> list[str]:
    """The arguments our parser did not take must all be Beam options; anything else (a typo
    of ours, a Beam flag misspelt, a stray value) is a ConfigError with the closest option."""
    parser = _beam_parser()
    _, rest = parser.parse_known_args(list(unknown))
    if rest:
        name = rest[0].split("=", 1)[0]
        if not name.startswith("-"):
            raise ConfigError(f"unexpected argument {name!r}")
        beam_flags = [o for a in parser._actions for o in a.option_strings]  # noqa: SLF001
        # A dashed flag is one of ours mistyped; an underscored one, Beam's.
        pool = OUR_OPTIONS if "-" in name.lstrip("-") else (*beam_flags, *OUR_OPTIONS)
        close = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise ConfigError(f"unknown option {name}{hint}")
    return list(unknown)


def check_input_kind(text: str) -> None:
    """`vilsar:PATH` is a mistyped kind, not a file named so (unless that file exists)."""
    match = _KIND_RE.match(text)
    if not match or match.group(1) in KINDS or Path(text).exists():
        return
    kind = match.group(1)
    close = difflib.get_close_matches(kind, KINDS, n=1)
    hint = f"; did you mean {close[0]}?" if close else f" (kinds: {', '.join(KINDS)})"
    raise ConfigError(f"unknown input kind {kind!r}{hint}")


def usage_error(message: str) -> NoReturn:
    """One line on stderr (argparse's own errors print its 10-line usage first), status 2."""
    print(f"run_pipeline.py: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def exit_on_interrupt(worker_filter: WorkerStderrFilter | None) -> None:
    """Ctrl-C ends the process at once with one line and status 130. Unwinding a
    KeyboardInterrupt through Beam's runner waits for its workers to finish their bundles (and
    can hang there); nothing is lost by not waiting: outputs are written whole at the end of a
    run and teacher replies are cached as they come, so the same command resumes."""
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return  # SIGINT ignored (a background job) or handled by an embedding program

    def handler(signum: int, frame: object) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if worker_filter is not None:
            worker_filter.silence()  # the workers' own KeyboardInterrupt tracebacks
        # Beam's driver threads raise when their worker subprocess is stopped below; the
        # process is about to exit, so their tracebacks are noise.
        threading.excepthook = lambda args: None
        stop_child_processes()
        folder = os.environ.get(PROGRESS_ENV)
        if folder:
            shutil.rmtree(folder, ignore_errors=True)
        newline = "\n" if sys.stderr.isatty() else ""  # after a progress bar
        print(f"{newline}{INTERRUPTED}", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(130)

    signal.signal(signal.SIGINT, handler)


def main(argv: Sequence[str] | None = None, stderr_filter: bool = False) -> int:
    """Parse, check, run one stage; the exit status described in --help. `stderr_filter`
    (the command line) also filters worker output and exits at once on Ctrl-C."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    setup_logging(args.verbose)
    stage = STAGES[args.stage]
    try:
        beam_argv = split_beam_args(unknown)
        if not 0 <= args.max_error_rate <= 1:
            raise ConfigError(f"--max-error-rate must be in [0, 1], got {args.max_error_rate}")
        data = load_config_file(args.config) if args.config else {}
        overrides: dict[str, Any] = {"num_samples": args.num_samples, "seed": args.seed}
        overrides = {k: v for k, v in overrides.items() if v is not None}
        for text in args.input or ():
            check_input_kind(text)
        if args.input:
            overrides["inputs"] = [config_to_dict(parse_input(text)) for text in args.input]
        teacher = {
            key: getattr(args, dest)
            for dest, key in TEACHER_FLAGS.items()
            if getattr(args, dest) is not None
        }
        if teacher:
            overrides["teacher"] = teacher
        for dest in PLAIN_FLAGS:
            if getattr(args, dest) is not None:
                overrides[dest] = getattr(args, dest)
        # Command-line values go into the file's keys before the config is built and checked.
        config = build_config(stage.config_class, merge_dicts(data, overrides))
        if stage.name in RUN_FOLDER_STAGES:
            check_run_folder(args.output, "--output")
        elif stage.name.startswith("train_"):
            check_run_folder(config.data, "--data", need_config=False)
    except (ConfigError, OSError, ValueError, SourceError, StageCheckError) as exc:
        usage_error(str(exc))
    logging.info("stage %s -> %s", stage.name, args.output)
    worker_filter = WorkerStderrFilter(args.verbose) if stderr_filter else None
    with worker_filter or contextlib.nullcontext():
        if stderr_filter:
            exit_on_interrupt(worker_filter)
        try:
            metrics = stage.run(config, args.output, beam_argv, args.overwrite)
        except KeyboardInterrupt:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C: no traceback either
            if worker_filter is not None:
                worker_filter.silence()  # the workers' own KeyboardInterrupt tracebacks
            print(INTERRUPTED, file=sys.stderr, flush=True)
            return 130
        except (
            OutputExistsError,
            SourceError,
            PublishError,
            StageCheckError,
            ModuleNotFoundError,
        ) as exc:
            usage_error(str(exc))
    print(format_summary(metrics))
    print(f"output: {args.output}")
    reason = failure_reason(metrics, args.max_error_rate)
    if reason:
        print(f"run_pipeline.py: failed: {reason}", file=sys.stderr)
        return 1
    return 0


def command() -> int:
    """The `drawreason` command and `python run_pipeline.py`: main() with worker output
    filtered and Ctrl-C ending the run at once."""
    return main(stderr_filter=True)


if __name__ == "__main__":
    sys.exit(command())
