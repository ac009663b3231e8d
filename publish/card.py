"""The dataset card (README.md) of a pushed run: Hub metadata plus a body generated from the
run's config.json, metrics.json and data, and an offline check of the metadata.

The metadata keeps what `datasets.push_to_hub` wrote (`configs`, `dataset_info`) and adds the
licence, task categories, size category, tags and pretty name. The card is a fixed point of
`datasets`' own card update, so pushing the same run again changes nothing.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from apache_beam.io.filesystems import FileSystems
from drawreason.publish.dataset import (
    RL_STAGE,
    SFT_STAGES,
    PublishError,
    Run,
    SplitSource,
    read_records,
    subset_files,
)
from drawreason.schemas import layout
from drawreason.schemas.config import build_config
from drawreason.storage.files import join

GENERATED_LICENSE = "apache-2.0"  # generators/oracle.py: what generated samples are released under
TASK_CATEGORIES = ["image-text-to-text", "visual-question-answering"]

# Licence identifiers the Hub accepts in card metadata
# (https://huggingface.co/docs/hub/repositories-licenses).
HUB_LICENSES = frozenset(
    """apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0
    bigcode-openrail-m afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause
    bsd-3-clause-clear c-uda cc cc0-1.0 cc-by-2.0 cc-by-2.5 cc-by-3.0 cc-by-4.0 cc-by-sa-3.0
    cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0
    cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cdla-sharing-1.0
    cdla-permissive-1.0 cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1
    eupl-1.2 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl lgpl-2.1 lgpl-3.0 isc h-research
    intel-research lppl-1.3c ms-pl apple-ascl apple-amlr mpl-2.0 odc-by odbl openrail++ osl-3.0
    postgresql ofl-1.1 ncsa unlicense zlib pddl lgpl-lr deepfloyd-if-license
    fair-noncommercial-research-license llama2 llama3 llama3.1 llama3.2 llama3.3 llama4 gemma
    unknown other""".split()
)
HUB_TASK_CATEGORIES = frozenset(
    """image-text-to-text visual-question-answering image-to-text text-generation
    question-answering image-classification object-detection reinforcement-learning
    video-text-to-text any-to-any""".split()
)
_NON_COMMERCIAL = re.compile(
    r"(^|[-_ ])nc([-_ ]|$)|non-?commercial|research[-_ ]only|h-research|intel-research|"
    r"apple-amlr|fair-noncommercial",
    re.I,
)
_SCAN_LINES = 200  # records read per file to find a subset's source and licence


def is_non_commercial(license_id: str) -> bool:
    return bool(_NON_COMMERCIAL.search(license_id or ""))


# --- sources and licences ---------------------------------------------------------------


@dataclass(frozen=True)
class SourceInfo:
    subset: str
    source: str  # e.g. generated:maze, generic:/data/vqa.jsonl
    license: str  # "" when unknown

    @property
    def non_commercial(self) -> bool:
        return is_non_commercial(self.license)


def _find_item(obj: Any) -> dict[str, Any] | None:
    """The QAItem inside a Trajectory/Rejection JSON (any dict with id, question, source)."""
    if isinstance(obj, dict):
        if "question" in obj and "source" in obj and "id" in obj:
            return obj
        for value in obj.values():
            found = _find_item(value)
            if found is not None:
                return found
    elif isinstance(obj, list):
        for value in obj:
            found = _find_item(value)
            if found is not None:
                return found
    return None


def _scan_items(path: str) -> Iterable[dict[str, Any]]:
    try:
        with FileSystems.open(path) as f:
            lines = f.read().decode("utf-8").splitlines()
    except OSError:
        return
    for line in lines[:_SCAN_LINES]:
        try:
            item = _find_item(json.loads(line))
        except json.JSONDecodeError:
            continue
        if item is not None:
            yield item


def _input_subset(entry: dict[str, Any]) -> str:
    """The subset an input of the run config wrote: named by the stage's own rule."""
    from drawreason.inputs.sources import InputConfig

    fields = {k: v for k, v in entry.items() if k in InputConfig.__dataclass_fields__}
    return build_config(InputConfig, fields, "inputs").subset


def collect_sources(run: Run, subsets: Iterable[str]) -> list[SourceInfo]:
    """Source and licence of every subset: from the records themselves (QAItem.source and
    .license in trajectories/ and rejected/), else the run config's `inputs` (their `license`
    key, when InputConfig has one), else generated (apache-2.0)."""
    from_inputs: dict[str, tuple[str, str]] = {}
    for entry in run.config.get("inputs") or []:
        source = f"{entry.get('kind', 'generic')}:{entry.get('path', '')}"
        from_inputs[_input_subset(entry)] = (source, str(entry.get("license") or ""))
    found: dict[str, tuple[str, str]] = {}
    for folder in (layout.trajectories_dir(run.stage), layout.rejected_dir(run.stage)):
        files = subset_files(run.root, folder)
        for subset in subsets:
            for path in files.get(subset, ()):  # its one file, or its parts
                if subset in found and found[subset][1]:
                    break
                for item in _scan_items(join(run.root, path)):
                    found[subset] = (str(item.get("source", "")), str(item.get("license") or ""))
                    if found[subset][1]:
                        break
    out = []
    for subset in sorted(subsets):
        source, license_id = found.get(subset, ("", ""))
        in_source, in_license = from_inputs.get(subset, ("", ""))
        if subset in from_inputs:
            source = source or in_source
            license_id = license_id or in_license
        elif not source or source.startswith("generated:"):
            source = source or f"generated:{subset}"
            license_id = license_id or GENERATED_LICENSE
        out.append(SourceInfo(subset, source, license_id))
    return out


def license_metadata(sources: Sequence[SourceInfo]) -> dict[str, Any]:
    """Card licence keys: one Hub licence when every source has the same known one, else
    `other` with a license_name (the per-source licences are in the card body)."""
    licenses = sorted({s.license or "unknown" for s in sources})
    if len(licenses) == 1 and licenses[0] in HUB_LICENSES and licenses[0] != "other":
        return {"license": licenses[0]}
    slug = re.sub(r"[^a-z0-9.-]+", "-", "mixed-" + "-".join(licenses).lower()).strip("-")
    return {"license": "other", "license_name": slug[:96]}


# --- statistics ---------------------------------------------------------------------------


def size_category(n: int) -> str:
    bounds = [
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
        (100_000_000, "10M<n<100M"),
        (1_000_000_000, "100M<n<1B"),
    ]
    for bound, name in bounds:
        if n < bound:
            return name
    return "n>1T" if n > 10**12 else "1B<n<10B"


def action_stats(run: Run, splits: Sequence[SplitSource]) -> dict[str, dict[str, Any]]:
    """{split: rows, actions (the action of every assistant turn, by kind), images (inputs and
    rendered)} of an SFT run's kept records, read from their full records in
    trajectories/<stage>/ (never from the rendered conversations). Raises PublishError when
    those records do not match metrics.json's kept count (a run written before every kept
    record kept its full record)."""
    files = subset_files(run.root, layout.trajectories_dir(run.stage))
    out = {}
    for split in splits:
        actions: Counter[str] = Counter()
        images = rows = 0
        for path in files.get(split.subset, ()):
            for record in read_records(join(run.root, path)):
                rows += 1
                actions.update(t["action"] for t in record["turns"] if t.get("action"))
                images += len(record["item"]["images"]) + len(record["rendered"])
        if rows != split.kept:
            folder = layout.trajectories_dir(run.stage)
            raise PublishError(
                f"{run.root}: {folder} holds {rows} full records of subset {split.subset}, "
                f"metrics.json counts {split.kept} kept; re-run the stage"
            )
        out[split.split] = {"rows": rows, "actions": dict(actions), "images": images}
    return out


def _turn_summary(hist: dict[str, int]) -> str:
    if not hist:
        return "-"
    values = {int(k): v for k, v in hist.items()}
    total = sum(values.values())
    mean = sum(k * v for k, v in values.items()) / total
    return f"{min(values)} / {mean:.1f} / {max(values)}"


# --- the card -----------------------------------------------------------------------------


def card_metadata(
    existing: dict[str, Any], run: Run, sources: Sequence[SourceInfo], total_rows: int
) -> dict[str, Any]:
    """Metadata for the card: `existing` (what datasets.push_to_hub wrote: configs,
    dataset_info) with our keys set."""
    data = dict(existing)
    for key in ("license", "license_name", "license_link"):
        data.pop(key, None)
    data.update(license_metadata(sources))
    data["task_categories"] = list(TASK_CATEGORIES)
    data["language"] = ["en"]
    data["size_categories"] = [size_category(total_rows)]
    tags = ["drawreason", "multimodal", "spatial-reasoning", "synthetic"]
    tags.append("reinforcement-learning" if run.stage == RL_STAGE else "sft")
    data["tags"] = tags
    data["pretty_name"] = f"drawreason {run.stage}"
    return data


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def card_body(
    run: Run,
    repo_id: str,
    splits: Sequence[SplitSource],
    sources: Sequence[SourceInfo],
    stats: dict[str, dict[str, Any]],
    other_configs: Sequence[str] = (),
) -> str:
    """The Markdown body of the card."""
    m = run.metrics
    name = run.config_name
    cfg = run.config
    out: list[str] = [f"# drawreason: {name}", ""]
    nc = [s for s in sources if s.non_commercial]
    if nc:
        out += [
            "> [!WARNING]",
            "> **Non-commercial data.** These subsets come from sources whose licence forbids "
            "commercial use: "
            + ", ".join(f"`{s.subset}` ({s.source}, {s.license})" for s in nc)
            + ". The dataset as a whole may only be used non-commercially.",
            "",
        ]
    if run.stage in SFT_STAGES:
        out += [
            "Multi-turn *draw to reason* trajectories for supervised fine-tuning of a "
            "vision-language model: the model reasons about a spatial question, draws boxes "
            "(Object Mapper) and paths (Path Tracer) on the images, looks at each rendered "
            "result, corrects itself and answers. Every row is a sharegpt conversation "
            "(`conversations`: system, user, assistant, ...) with its images (`images`, one "
            "`<image>` placeholder per image in the user turns, in order).",
            "",
            "## Training with LLaMA-Factory",
            "",
            "Add to `data/dataset_info.json` and set `dataset:` to the entry names:",
            "",
            "```json",
        ]
        entries = {
            f"{name}_{split.split}": {
                "hf_hub_url": repo_id,
                "subset": name,
                "split": split.split,
                "formatting": "sharegpt",
                "columns": {"messages": "conversations", "images": "images"},
                "tags": {
                    "role_tag": "role",
                    "content_tag": "content",
                    "user_tag": "user",
                    "assistant_tag": "assistant",
                    "system_tag": "system",
                },
            }
            for split in splits
        }
        out += [json.dumps(entries, indent=2), "```", ""]
    else:
        out += [
            "Spatial questions with images for reinforcement learning of a vision-language "
            "model that reasons by drawing: one row per question, with the EasyR1 prompt "
            "(`problem`, one `<image>` per image), the ViLaSR keys (`question`, `image_path`), "
            "the embedded `images`, the `answer`, `question_type`, `data_type`, `options` and "
            "`grid_size`.",
            "",
            "## Training with EasyR1",
            "",
            "Score rollouts with the reward of the drawreason repository, "
            "`trainer/reward.py:compute_score` (overall = accuracy + format):",
            "",
            "```bash",
            "python3 -m verl.trainer.main config=examples/config.yaml \\",
            f"  data.train_files={repo_id}@{splits[0].split} \\",
            "  data.prompt_key=problem data.answer_key=answer data.image_key=images \\",
            "  worker.reward.reward_function=./trainer/reward.py:compute_score",
            "```",
            "",
            f"With several configs in this repository, load `{name}` explicitly: "
            f'`datasets.load_dataset("{repo_id}", "{name}", split="{splits[0].split}")`.',
            "",
        ]
    out += ["## Subsets", ""]
    rows = []
    for split in splits:
        entry = m.subsets[split.subset]
        rejected = sum(entry.rejected.values())
        rows.append(
            (
                f"`{split.subset}`",
                f"`{split.split}`",
                entry.input,
                entry.kept,
                rejected,
                entry.errors,
            )
        )
    total_rejected = sum(m.rejected.values())
    rows.append(("**total**", "", m.input, m.kept, total_rejected, m.errors))
    out += _table(("subset", "split", "input", "kept", "rejected", "errors"), rows)
    out += [
        "",
        f'Load a split with `datasets.load_dataset("{repo_id}", "{name}", '
        f'split="{splits[0].split}")`.',
        "",
        "## Rejections",
        "",
    ]
    reasons = sorted(m.rejected)
    if reasons:
        out += _table(
            ("reason", "total", *[s.subset for s in splits]),
            (
                (
                    f"`{reason}`",
                    m.rejected[reason],
                    *[m.subsets[s.subset].rejected.get(reason, 0) for s in splits],
                )
                for reason in reasons
            ),
        )
    else:
        out.append("No sample was rejected.")
    out.append("")
    if run.stage in SFT_STAGES:
        out += ["## Turns, actions and reflection", ""]
        rows = []
        for split in splits:
            entry = m.subsets[split.subset]
            st = stats.get(split.split, {})
            acts = st.get("actions", {})
            n = max(st.get("rows", 0), 1)
            kinds = entry.reflection
            rows.append(
                (
                    f"`{split.subset}`",
                    _turn_summary(entry.turns),
                    f"{acts.get('Object Mapper', 0) / n:.2f}",
                    f"{acts.get('Path Tracer', 0) / n:.2f}",
                    f"{st.get('images', 0) / n:.2f}",
                    f"{entry.reflective_rate:.1%}",
                    ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) or "-",
                )
            )
        out += _table(
            (
                "subset",
                "turns min / mean / max",
                "Object Mapper / row",
                "Path Tracer / row",
                "images / row",
                "reflective",
                "reflection kinds",
            ),
            rows,
        )
        out.append("")
    pass_rates = {s.subset: m.subsets[s.subset].pass_rate for s in splits}
    pass_rates = {subset: rates for subset, rates in pass_rates.items() if rates}
    if pass_rates:
        out += ["## Pass rates", "", "```json", json.dumps(pass_rates, indent=2), "```", ""]
    out += ["## Generation", ""]
    teacher = cfg.get("teacher") or {}
    gen_rows = [
        ("stage", f"`{run.stage}`"),
        ("seed", run.seed),
        ("config hash", f"`{run.config_hash}`"),
        ("code version", f"`{run.code_version}`"),
        ("samples requested", cfg.get("num_samples", "-")),
        ("generator mix", ", ".join(f"{k} {v}" for k, v in sorted((cfg.get("mix") or {}).items()))),
    ]
    if teacher.get("kind"):
        gen_rows += [
            ("teacher", f"{teacher.get('kind')} `{teacher.get('model', '')}`"),
            (
                "sampling",
                f"temperature {teacher.get('temperature')}, top_p {teacher.get('top_p')}, "
                f"max_tokens {teacher.get('max_tokens')}, "
                f"{teacher.get('samples_per_item')} sample(s) per question",
            ),
        ]
    else:
        gen_rows.append(("teacher", "none: oracle drawing traces from the generators"))
    usage = m.teacher_usage
    if usage:
        gen_rows.append(("teacher usage", ", ".join(f"{k} {usage[k]}" for k in sorted(usage))))
    out += _table(("", ""), gen_rows)
    out += ["", "## Sources and licences", ""]
    out += _table(
        ("subset", "source", "licence", "commercial use"),
        (
            (
                f"`{s.subset}`",
                f"`{s.source}`",
                s.license or "unknown",
                "**no (non-commercial)**"
                if s.non_commercial
                else ("unknown" if not s.license else "yes"),
            )
            for s in sources
        ),
    )
    out += ["", "## Decontamination", ""]
    dedup = cfg.get("dedup")
    if dedup is None:
        out.append(
            "None applied: the samples are generated from seeds, not drawn from public benchmarks."
        )
    elif not dedup.get("enabled", True):
        out.append("Dedup and decontamination were disabled for this run.")
    else:
        eval_sets = dedup.get("eval_sets") or []
        dropped = {r: n for r, n in m.rejected.items() if "dup" in r or "contam" in r}
        out.append(
            f"Dedup within and across subsets (perceptual image hash, at most "
            f"{dedup.get('max_distance')} bits apart, plus question text) and decontamination "
            + (
                "against the evaluation sets " + ", ".join(f"`{e}`" for e in eval_sets)
                if eval_sets
                else "against no evaluation set (none was configured)"
            )
            + f" (text matches from {dedup.get('min_words')} words). Removed: "
            + (", ".join(f"{r} {n}" for r, n in sorted(dropped.items())) or "none")
            + "."
        )
    if other_configs:
        out += [
            "",
            "## Other configs",
            "",
            "This repository also holds configs pushed from other runs: "
            + ", ".join(f"`{c}`" for c in other_configs)
            + ".",
        ]
    out += [
        "",
        "Made with [drawreason](https://github.com/) `run_pipeline.py --stage push_to_hub`.",
        "",
    ]
    return "\n".join(out)


def build_card(metadata: dict[str, Any], body: str) -> Any:
    """A `DatasetCard` from metadata and body, in the form `datasets` writes it back (so a
    later `datasets.push_to_hub` of the same data leaves it unchanged)."""
    from huggingface_hub import DatasetCard, DatasetCardData

    data = DatasetCardData(**metadata)
    return DatasetCard(f"---\n{data.to_yaml()}\n---\n\n{body}")


# --- metadata validation (offline) --------------------------------------------------------


def _size_categories() -> set[str]:
    text = resources.files("datasets.utils.resources").joinpath("size_categories.json")
    return set(json.loads(text.read_text()))


REQUIRED_KEYS = ("license", "task_categories", "size_categories", "configs")


def metadata_errors(content: str, required: Sequence[str] = ()) -> list[str]:
    """What is wrong with a dataset card's YAML metadata, offline: it parses into
    huggingface_hub's `DatasetCardData` and back unchanged, licence and categories are Hub
    identifiers, `configs` and `dataset_info` are what `datasets` can read, and the `required`
    keys are present. [] when valid."""
    import yaml
    from huggingface_hub import DatasetCard, DatasetCardData

    errors: list[str] = []
    if not content.startswith("---"):
        return ["no YAML metadata header"]
    try:
        card = DatasetCard(content, ignore_metadata_errors=False)
    except (ValueError, yaml.YAMLError) as exc:
        return [f"metadata is not valid YAML: {exc}"]
    raw = card.data.to_dict()
    if not raw:
        return ["empty metadata"]
    if DatasetCardData(**raw).to_dict() != raw:
        errors.append("metadata does not round-trip through DatasetCardData")
    errors += [f"metadata has no {key}" for key in required if not raw.get(key)]
    licenses = raw.get("license")
    license_list = licenses if isinstance(licenses, list) else [licenses] if licenses else []
    for lic in license_list:
        if lic not in HUB_LICENSES:
            errors.append(f"license {lic!r} is not a Hub licence identifier")
    if "other" in license_list:
        name = raw.get("license_name")
        if not name or not re.fullmatch(r"[a-z0-9.-]+", str(name)):
            errors.append("license other needs a license_name of [a-z0-9.-] characters")
    for key in ("task_categories", "size_categories"):
        value = raw.get(key)
        if value is not None and not isinstance(value, list):
            errors.append(f"{key} must be a list")
    for cat in raw.get("task_categories") or []:
        if cat not in HUB_TASK_CATEGORIES:
            errors.append(f"task category {cat!r} is not a Hub task category")
    sizes = _size_categories()
    for size in raw.get("size_categories") or []:
        if size not in sizes:
            errors.append(f"size category {size!r} is not one of {sorted(sizes)}")
    if "configs" in raw:
        errors += _configs_errors(card.data)
    if "dataset_info" in raw:
        try:
            from datasets.info import DatasetInfosDict

            DatasetInfosDict.from_dataset_card_data(card.data)
        except Exception as exc:  # datasets raises several types for a bad dataset_info
            errors.append(f"dataset_info is not readable by datasets: {exc}")
    return errors


def _configs_errors(card_data: Any) -> list[str]:
    from datasets.utils.metadata import MetadataConfigs

    configs = card_data.get("configs")
    if not isinstance(configs, list) or not all(isinstance(c, dict) for c in configs):
        return ["configs must be a list of mappings"]
    names = [c.get("config_name") for c in configs]
    errors = []
    if len(set(names)) != len(names) or not all(names):
        errors.append(f"config names must be present and unique: {names}")
    try:
        MetadataConfigs.from_dataset_card_data(card_data)
    except Exception as exc:  # datasets' own check of data_files
        errors.append(f"configs are not readable by datasets: {exc}")
    return errors
