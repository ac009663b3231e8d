"""Command line: look a stage up, build its config, run it on a Beam runner, print a summary."""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inputs.sources import SourceError, parse_input
from pipelines.stages import STAGES, OutputExistsError, format_summary
from publish.dataset import PublishError
from schemas.config import ConfigError, build_config, config_to_dict, merge_dicts

DESCRIPTION = """\
Generate drawing-to-reason training data with Apache Beam.

Stages:
{stages}

Any option this program does not know is handed to Beam untouched, so the same stage runs
locally (default: Beam's FnApiRunner, one worker process per core) or on a cluster, e.g.
  --runner DataflowRunner --project P --region R --temp_location gs://B/tmp --setup_file ./setup.py
  --runner FlinkRunner --flink_master HOST:8081 --environment_type LOOPBACK
  --runner SparkRunner --spark_master_url spark://HOST:7077
Outputs may be local paths or gs:// / s3:// URIs.
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
)
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
    train = parser.add_argument_group("train_sft, train_grpo")
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


def split_beam_args(unknown: Sequence[str]) -> list[str]:
    """Beam's flags use underscores; a dashed unknown flag is a typo of ours, not Beam's."""
    for arg in unknown:
        name = arg.split("=", 1)[0]
        if name.startswith("--") and "-" in name[2:]:
            close = difflib.get_close_matches(name, OUR_OPTIONS, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ConfigError(f"unknown option {name}{hint}")
    return list(unknown)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # Beam's own INFO chatter and its relay of worker logs (the workers print them already).
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    logging.getLogger("apache_beam.runners.portability.local_job_service").setLevel(logging.ERROR)
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    stage = STAGES[args.stage]
    try:
        beam_argv = split_beam_args(unknown)
        data = load_config_file(args.config) if args.config else {}
        overrides: dict[str, Any] = {"num_samples": args.num_samples, "seed": args.seed}
        overrides = {k: v for k, v in overrides.items() if v is not None}
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
    except (ConfigError, OSError, ValueError) as exc:
        parser.error(str(exc))
    logging.info("stage %s -> %s", stage.name, args.output)
    try:
        metrics = stage.run(config, args.output, beam_argv, args.overwrite)
    except (OutputExistsError, SourceError, PublishError, ModuleNotFoundError) as exc:
        parser.error(str(exc))
    print(format_summary(metrics))
    print(f"output: {args.output}")
    return 0 if metrics["accounted"] else 1


if __name__ == "__main__":
    sys.exit(main())
