"""The stage registry: name -> config class, help text, and the function that runs it."""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apache_beam as beam
from drawreason.filters.dedup import load_eval_set
from drawreason.inputs.sources import check_source
from drawreason.pipelines import cold_start, evaluate, reflective, rl_data
from drawreason.pipelines.eval_results import compare_results, format_comparison
from drawreason.pipelines.memory import Trimmer, tune_allocator
from drawreason.pipelines.progress import PROGRESS_ENV, ProgressDisplay
from drawreason.pipelines.runner import code_version, pipeline_options, runner_name
from drawreason.pipelines.stage import QuestionStageConfig
from drawreason.publish.hub import PushConfig, run_push
from drawreason.report import ReportConfig, run_report
from drawreason.schemas import layout
from drawreason.schemas.config import config_hash, config_to_dict, strip_keys
from drawreason.schemas.metrics import parse_metrics
from drawreason.schemas.records import Provenance
from drawreason.storage.files import exists, join, read_json, write_json
from drawreason.teachers.factory import OPERATIONAL_KEYS
from drawreason.trainer.grpo import GRPOConfig, run_train_grpo
from drawreason.trainer.sft import SFTConfig, run_train_sft

_LOG = logging.getLogger(__name__)


# Config keys a rerun into the same output may change (see teachers.factory.OPERATIONAL_KEYS).
RESUMABLE_KEYS = tuple(f"teacher.{key}" for key in OPERATIONAL_KEYS)


class OutputExistsError(RuntimeError):
    """The output folder holds a run with another configuration."""


class StageCheckError(RuntimeError):
    """Something a stage needs is missing; found in the driver before any pipeline starts."""


TEACHER_PACKAGES = {"openai": "openai", "vllm": "vllm"}
TEACHER_ERROR = "teacher_error"  # the rejection reason of a trajectory the teacher never answered


def check_run_folder(path: str, flag: str, need_config: bool = True) -> None:
    """A stage that reads a run directory (report, push_to_hub, train_*) needs it to be there
    (with its config.json unless not `need_config`: trainers also take one .jsonl); never
    create it. Raises StageCheckError."""
    if not path:
        raise StageCheckError(f"{flag} RUN_DIR is required")
    if not exists(path):
        raise StageCheckError(f"{flag} {path}: no such run folder")
    if need_config and not exists(join(path, layout.CONFIG)):
        raise StageCheckError(f"{flag} {path}: not a run folder (no config.json)")


def check_teacher(config: Any) -> None:
    """The teacher's package is importable here and an OpenAI-compatible server answers at
    its endpoint: one line in the driver instead of tracebacks from every worker."""
    kind = config.teacher.kind
    package = TEACHER_PACKAGES.get(kind)
    if package and importlib.util.find_spec(package) is None:
        hint = " (use .venv-vllm: scripts/setup_vllm.sh)" if kind == "vllm" else ""
        raise StageCheckError(
            f"--teacher {kind} needs the {package} package, which {sys.executable} does not "
            f"have{hint}"
        )
    if kind == "openai":
        check_server(config.teacher.endpoint)


def check_server(endpoint: str) -> None:
    """Something listens at the endpoint's host and port. Raises StageCheckError."""
    from drawreason.teachers.openai_backend import server_listening

    if not urllib.parse.urlsplit(endpoint).hostname:
        raise StageCheckError(f"--teacher-endpoint {endpoint}: not a URL (http://HOST:PORT/v1)")
    if not server_listening(endpoint, timeout_s=5.0):
        raise StageCheckError(f"no server at {endpoint}: is it running?")


def failure_reason(metrics: dict[str, Any], max_error_rate: float) -> str:
    """Why a data stage's run counts as failed ("" when it did not): its counts do not add up,
    or every record, or more than `max_error_rate` of them, failed for infrastructure reasons
    (per-record errors and teacher errors). Records rejected by filters are not failures."""
    if "summary" in metrics:  # push_to_hub, report, training: they raise when they fail
        return ""
    if not metrics.get("accounted", True):
        return "input != kept + rejected + errors; see metrics.json"
    total = int(metrics.get("input", 0))
    errors = int(metrics.get("errors", 0))
    teacher = int(metrics.get("rejected", {}).get(TEACHER_ERROR, 0))
    failed = errors + teacher
    usage = metrics.get("teacher_usage") or {}
    requests, refused = usage.get("teacher_requests", 0), usage.get("teacher_errors", 0)
    if requests and refused >= requests:
        return (
            f"every teacher request failed ({refused} of {requests}); see the teacher_error "
            "rejections in rejected/ for the error"
        )
    if not total or not failed:
        return ""
    what = f"{teacher} teacher errors and {errors} record errors of {total} records"
    if failed >= total:
        return f"every record failed ({what}); see rejected/ and errors/ in the output"
    if failed / total > max_error_rate:
        return (
            f"{failed / total:.0%} of records failed ({what}), over --max-error-rate "
            f"{max_error_rate:g}; see rejected/ and errors/ in the output"
        )
    return ""


def progress_phases(config: Any) -> dict[str, int | None]:
    """The phases workers report (pipelines.accounting.ProgressLog) and their totals, when
    the config knows them upfront."""
    allocation = config.allocation() if hasattr(config, "allocation") else {}
    # cold_start: oracle traces for some generated subsets, teacher rollouts for the others
    traced = config.oracle_allocation() if hasattr(config, "oracle_allocation") else allocation
    sampled = config.teacher_allocation() if hasattr(config, "teacher_allocation") else allocation
    generated = sum(traced.values())
    inputs = getattr(config, "inputs", ())
    phases: dict[str, int | None] = {"samples generated": generated or None}
    if inputs:
        phases["real-data items prepared"] = None
    if getattr(config, "uses_teacher", False):
        k = config.teacher.samples_per_item
        phases["teacher trajectories"] = None if inputs else sum(sampled.values()) * k or None
    return phases


@dataclass(frozen=True)
class Stage:
    name: str
    summary: str
    config_class: type
    run: Callable[[Any, str, Sequence[str], bool], dict[str, Any]]


def _prepare_output(output: str, stage: str, config_dict: dict, overwrite: bool) -> None:
    previous_path = join(output, layout.CONFIG)
    if exists(previous_path):
        previous = read_json(previous_path)
        same = strip_keys(previous.get("config") or {}, RESUMABLE_KEYS) == strip_keys(
            config_dict, RESUMABLE_KEYS
        )
        if not same or previous.get("stage") != stage:
            if not overwrite:
                raise OutputExistsError(
                    f"{output} holds a run with a different configuration; choose another "
                    "--output or pass --overwrite"
                )
    if overwrite and "://" not in output:
        # Stale shards of an earlier layout would otherwise sit beside the new ones.
        for rel in layout.stage_outputs(stage):
            path = Path(output) / rel
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()


def _run_stage(
    stage: str,
    config: Any,
    output: str,
    beam_argv: Sequence[str],
    overwrite: bool,
    build: Callable[[beam.Pipeline, Provenance], Any],
) -> dict[str, Any]:
    """Check sources, prepare the output, build and run the pipeline, write config.json and
    run.json; returns metrics.json's content."""
    config_dict = config_to_dict(config)
    version = code_version()
    for source in getattr(config, "inputs", ()):
        check_source(source)  # with or without a teacher: a missing file is a typo
    if config.uses_teacher:
        check_teacher(config)
    _prepare_output(output, stage, config_dict, overwrite)
    digest = config_hash(config, RESUMABLE_KEYS)
    write_json(
        join(output, layout.CONFIG),
        {
            "stage": stage,
            "config": config_dict,
            "config_hash": digest,
            "seed": config.seed,
            "code_version": version,
        },
    )
    provenance = Provenance(
        producer="generator", config_hash=digest, seed=config.seed, code_version=version
    )
    # An in-process vLLM engine per local worker would share one machine's GPU (or CPU): one
    # worker then, whose engine batches every trajectory. Explicit Beam flags still win.
    uses_vllm = config.uses_teacher and config.teacher.kind == "vllm"
    options = pipeline_options(beam_argv, local_workers=1 if uses_vllm else None)
    tune_allocator()  # before local workers start: they inherit it (pipelines/memory.py)
    start = time.monotonic()
    # Local workers inherit the variable and tick counts into the folder (pipelines.progress).
    with tempfile.TemporaryDirectory(prefix="drawreason-progress-") as folder:
        os.environ[PROGRESS_ENV] = folder
        try:
            with ProgressDisplay(Path(folder), progress_phases(config)), Trimmer():
                with beam.Pipeline(options=options) as p:
                    build(p, provenance)
        finally:
            os.environ.pop(PROGRESS_ENV, None)
    result = p.result if hasattr(p, "result") else None
    elapsed = time.monotonic() - start
    path = join(output, layout.METRICS)
    # The summary and the failure check read the typed record (schemas/metrics.py) as JSON.
    metrics = parse_metrics(read_json(path), path).to_json()
    counters = {}
    if result is not None:
        try:
            for c in result.metrics().query()["counters"]:
                counters[c.key.metric.name] = counters.get(c.key.metric.name, 0) + c.committed
        except (AttributeError, NotImplementedError, KeyError):
            counters = {}
    write_json(
        join(output, layout.RUN),
        {
            "stage": stage,
            "runner": runner_name(options),
            "beam_options": options.get_all_options(drop_default=True),
            "elapsed_s": round(elapsed, 2),
            "counters": dict(sorted(counters.items())),
        },
    )
    metrics["elapsed_s"] = round(elapsed, 2)
    return metrics


def data_stage(module: Any) -> Callable[[Any, str, Sequence[str], bool], dict[str, Any]]:
    """The run function of a data stage module (`pipelines.cold_start`, `reflective`,
    `rl_data`): its `build_pipeline(p, config, output, provenance)` run end to end, with the
    evaluation sets to keep out loaded here in the driver for a stage that dedups its question
    pool; the run returns metrics.json's content."""

    def run(config: Any, output: str, beam_argv: Sequence[str], overwrite: bool) -> dict[str, Any]:
        more: tuple[Any, ...] = ()
        if isinstance(config, QuestionStageConfig):
            dedup = config.dedup
            more = (load_eval_set(dedup.eval_sets, dedup.max_distance, dedup.min_words),)

        def build(p: beam.Pipeline, provenance: Provenance) -> None:
            module.build_pipeline(p, config, output, provenance, *more)

        return _run_stage(module.STAGE, config, output, beam_argv, overwrite, build)

    return run


def load_eval_results(run: str) -> dict[str, Any]:
    """{benchmark: eval/<benchmark>.json} of an evaluation run directory."""
    from apache_beam.io.filesystems import FileSystems

    matches = FileSystems.match([join(run, "eval", "*.json")])[0].metadata_list
    docs = {}
    for meta in sorted(matches, key=lambda m: m.path):
        doc = read_json(meta.path)
        if isinstance(doc, dict) and "benchmark" in doc:
            docs[doc["benchmark"]] = doc
    if not docs:
        raise OutputExistsError(f"{run}: no evaluation results (eval/<benchmark>.json) there")
    return docs


def run_evaluate(
    config: evaluate.EvaluateConfig, output: str, beam_argv: Sequence[str], overwrite: bool
) -> dict[str, Any]:
    """Run the evaluate stage end to end, or with `compare` print the relative change
    between two evaluation runs; returns metrics.json's content (or the table)."""
    if config.compare:
        run_a, run_b = config.compare
        rows = compare_results(load_eval_results(run_a), load_eval_results(run_b))
        return {"summary": format_comparison(rows, run_a, run_b), "accounted": True}

    def build(p: beam.Pipeline, provenance: Provenance) -> None:
        evaluate.build_pipeline(p, config, output, provenance)

    return _run_stage(evaluate.STAGE, config, output, beam_argv, overwrite, build)


STAGES: dict[str, Stage] = {
    "cold_start_data": Stage(
        name="cold_start_data",
        summary=(
            "Generate mazes and synthetic 3-D scenes with oracle drawing traces, render every "
            "step, filter "
            "(answered, valid format, correct, >= 3 turns) and write LLaMA-Factory sharegpt "
            "shards, the rejected samples with reasons, and metrics."
        ),
        config_class=cold_start.ColdStartConfig,
        run=data_stage(cold_start),
    ),
    "reflective_data": Stage(
        name="reflective_data",
        summary=(
            "Reflective rejection sampling: K trajectories per question (generated and "
            "--input) from a policy model (--teacher, the cold-start checkpoint), kept when "
            "correct, format-valid and reflective, capped per question, balanced by reflection "
            "kind and subset, written as sharegpt SFT shards like cold start."
        ),
        config_class=reflective.ReflectiveConfig,
        run=data_stage(reflective),
    ),
    "rl_data": Stage(
        name="rl_data",
        summary=(
            "RL shards, one record per question (ViLaSR and EasyR1 keys, grid_size always "
            "present), from generated mazes/scenes and --input sources: dedup and "
            "decontamination (dedup.eval_sets), optional pass-rate filter over K policy "
            "samples (pass_rate.enabled with --teacher), JSONL with relative image paths plus "
            "Parquet with embedded images."
        ),
        config_class=rl_data.RLDataConfig,
        run=data_stage(rl_data),
    ),
    "push_to_hub": Stage(
        name="push_to_hub",
        summary=(
            "Push a run directory (--output) to a Hugging Face dataset repo (--repo-id "
            "ORG/NAME): one config per stage, one split per subset, images embedded, plus a "
            "generated dataset card; HF_TOKEN or `hf auth login`; HF_ENDPOINT honoured; "
            "idempotent."
        ),
        config_class=PushConfig,
        run=run_push,
    ),
    "train_sft": Stage(
        name="train_sft",
        summary=(
            "Multi-turn SFT on sharegpt shards (--data RUN_DIR --model PATH): loss on assistant "
            "tokens only, vision tower frozen, checkpoints and exact resume (needs torch: "
            ".venv-vllm)."
        ),
        config_class=SFTConfig,
        run=run_train_sft,
    ),
    "train_grpo": Stage(
        name="train_grpo",
        summary=(
            "GRPO on RL shards (--data RUN_DIR --model PATH) with rollouts through the drawing "
            "environment, the shared reward, group-normalised advantages, KL off by default "
            "(needs torch: .venv-vllm)."
        ),
        config_class=GRPOConfig,
        run=run_train_grpo,
    ),
    "evaluate": Stage(
        name="evaluate",
        summary=(
            "Evaluate a policy (--teacher, e.g. a train_sft/train_grpo checkpoint) on held-out "
            "generated sets (heldout: mazes by grid size, scene families) and public benchmarks "
            "(benchmarks: vilasr_maze, vsi_bench, spar_bench, mmsi_bench, spatial_eval) through "
            "the training environment; writes eval/<benchmark>.json (accuracy per sub-task "
            "with a 95% interval, behaviour table); --compare RUN_A RUN_B prints the relative "
            "change."
        ),
        config_class=evaluate.EvaluateConfig,
        run=run_evaluate,
    ),
    "report": Stage(
        name="report",
        summary=(
            "Write DIR/report.html, a self-contained static HTML report of the run in --output: "
            "plots (counts per subset and rejection reason, turns and actions per trajectory, "
            "reflection kinds, multiple-choice answer letters, image sizes) and a trajectory "
            "viewer with filters, sampling at most max_per_group trajectories per group."
        ),
        config_class=ReportConfig,
        run=run_report,
    ),
}


def format_summary(metrics: dict[str, Any]) -> str:
    """A short human summary of metrics.json, or the `summary` text of a stage that makes no
    data (push_to_hub, report, training)."""
    if "summary" in metrics:
        return str(metrics["summary"])
    lines = [
        f"input {metrics['input']}  kept {metrics['kept']}  "
        f"rejected {sum(metrics['rejected'].values())}  errors {metrics['errors']}  "
        f"time {metrics.get('elapsed_s', 0):.1f}s",
    ]
    for reason, n in metrics["rejected"].items():
        lines.append(f"  rejected {reason}: {n}")
    for subset, entry in metrics["subsets"].items():
        line = f"  subset {subset}: input {entry['input']} kept {entry['kept']}"
        if entry["turns"]:  # trajectories, not RL questions
            line += f" reflective {entry['reflective_rate']:.0%} of kept"
        lines.append(line)
    usage = metrics.get("teacher_usage")
    if usage:
        lines.append("  teacher: " + "  ".join(f"{name} {usage[name]}" for name in sorted(usage)))
    for skipped in metrics.get("skipped_sources", []):
        lines.append(f"  skipped {skipped['source']}: {skipped['reason']}")
    if not metrics["accounted"]:
        lines.append("  WARNING: input != kept + rejected + errors; see metrics.json")
    return "\n".join(lines)
