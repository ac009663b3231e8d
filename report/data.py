"""Read a run directory in one streaming pass: whole-run statistics plus a bounded sample of
trajectories per (subset, kept / rejection reason) group for the viewer.

Nothing here needs Beam pipelines; files are read through Beam's FileSystems only so that
gs:// and s3:// run directories work like local ones. Memory is bounded by the number of
groups times `max_per_group` sampled lines, whatever the size of the run.
"""

from __future__ import annotations

import hashlib
import heapq
import io
import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from apache_beam.io.filesystems import FileSystems
from drawreason.drawing.parse import parse_turn
from drawreason.filters.scoring import normalize_choice
from drawreason.report.grounding import GroundingScores
from drawreason.schemas import layout
from drawreason.schemas.metrics import StageMetrics, parse_metrics
from drawreason.schemas.oracle import grounding_from_dict
from drawreason.schemas.rl import RLKeys, resolve_image, run_rl_keys
from drawreason.schemas.sharegpt import IMAGE_TOKEN, image_path

KEPT, REJECTED, EVALUATED = "kept", "rejected", "evaluated"
DEFAULT_KEYS = RLKeys()

TOOLS = ("Object Mapper", "Path Tracer")
# A letter distribution is flagged when it is significant (p < 0.001) and some letter's share
# is at least this far from its uniform expectation.
SKEW_MIN_DEVIATION = 0.05


# --- files -----------------------------------------------------------------------------------


def _glob(root: str, pattern: str) -> list[str]:
    found = FileSystems.match([FileSystems.join(root, pattern)])[0].metadata_list
    return sorted(m.path for m in found)


def subset_files(root: str, folder: str) -> list[tuple[str, str]]:
    """(subset, path) of every JSONL file of the data folder DIR/<folder>, one file or every
    part of each subset (schemas.layout)."""
    base = FileSystems.join(root, folder)
    listing = _glob(base, "*" + layout.JSONL) + _glob(base, "*/*" + layout.JSONL)
    found = layout.find_subsets(base, listing)
    return [(subset.name, path) for subset in found for path in subset.files]


def data_files(root: str, kind: str) -> list[tuple[str, str, str]]:
    """(stage, subset, path) of every JSONL file under DIR/<kind>/<stage>/ (`sft`, `rejected`),
    one file or every part of each subset."""
    prefix = FileSystems.join(root, kind).rstrip("/") + "/"
    files = _glob(root, f"{kind}/*/*{layout.JSONL}") + _glob(root, f"{kind}/*/*/*{layout.JSONL}")
    stages = sorted({p[len(prefix) :].split("/", 1)[0] for p in files if p.startswith(prefix)})
    return [
        (stage, subset, path)
        for stage in stages
        for subset, path in subset_files(root, f"{kind}/{stage}")
    ]


def rl_files(root: str) -> list[tuple[str, str, str]]:
    return [("rl_data", subset, path) for subset, path in subset_files(root, layout.RL)]


def eval_files(root: str) -> list[tuple[str, str]]:
    """(benchmark, path) of the evaluate stage's trajectory files (eval/trajectories/)."""
    paths = _glob(root, layout.eval_trajectories("*"))
    return [(path.rsplit("/", 1)[-1][: -len(layout.JSONL)], path) for path in paths]


def eval_results(root: str) -> dict[str, Any]:
    """{benchmark: eval/<benchmark>.json} of an evaluation run; {} for any other run."""
    out = {}
    for path in _glob(root, layout.eval_result("*")):
        doc = read_json_file(path)
        if isinstance(doc, dict) and "benchmark" in doc and "accuracy" in doc:
            out[str(doc["benchmark"])] = doc
    return out


def eval_reason(traj: dict[str, Any]) -> str:
    """The viewer group of an evaluation trajectory: correct, partial (MRA between 0 and 1),
    wrong (answered, scored 0), else how it ended."""
    accuracy = (traj.get("scores") or {}).get("accuracy", 0.0)
    if accuracy >= 1.0:
        return "correct"
    if accuracy > 0:
        return "partial"
    return "wrong" if traj.get("termination") == "answered" else str(traj.get("termination"))


def read_lines(path: str) -> Iterator[str]:
    """Non-empty lines of a (possibly remote) text file, streamed."""
    with FileSystems.open(path) as raw:
        for line in io.TextIOWrapper(raw, encoding="utf-8"):
            line = line.strip()
            if line:
                yield line


def read_json_file(path: str) -> Any:
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path) as f:
        return json.loads(f.read().decode("utf-8"))


def read_metrics(root: str) -> StageMetrics | None:
    """The run's metrics.json through the one loader (schemas/metrics.py); None without one."""
    path = FileSystems.join(root, layout.METRICS)
    doc = read_json_file(path)
    return None if doc is None else parse_metrics(doc, path)


# --- sampling --------------------------------------------------------------------------------


def sample_rank(seed: int, sample_id: str) -> int:
    """A stable pseudo-random rank: the sample keeps the ids with the smallest ranks, so it does
    not depend on file order, sharding or run size."""
    digest = hashlib.sha256(f"{seed}:{sample_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class BottomK:
    """The k items with the smallest rank (a bounded max-heap)."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.total = 0
        self._heap: list[tuple[int, str, Any]] = []

    def add(self, rank: int, key: str, item: Any) -> None:
        self.total += 1
        if self.k <= 0:
            return
        entry = (-rank, key, item)
        if len(self._heap) < self.k:
            heapq.heappush(self._heap, entry)
        elif entry > self._heap[0]:
            heapq.heapreplace(self._heap, entry)

    def items(self) -> list[Any]:
        return [item for _, _, item in sorted(self._heap, key=lambda e: (-e[0], e[1]))]


# --- statistics ------------------------------------------------------------------------------


@dataclass
class Stats:
    """Whole-run statistics (every record is counted; only the viewer samples)."""

    stages: set[str] = field(default_factory=set)
    kept: Counter = field(default_factory=Counter)  # subset -> n
    rejected: Counter = field(default_factory=Counter)  # (subset, reason) -> n
    errors: Counter = field(default_factory=Counter)  # subset -> n
    turns: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    tool_calls: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    tool_totals: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    letters: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    letters_expected: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    mc_unparsed: Counter = field(default_factory=Counter)
    sizes: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    # per-trajectory grounding scores of the full records (kept teacher trajectories and
    # rejections) of generated questions (report/grounding.py)
    grounding: GroundingScores = field(default_factory=GroundingScores)
    # subset -> kept SFT records without a full record in trajectories/ (a run written before
    # every kept record kept one): counted, shown, but not in the turn, action, size and answer
    # figures, which come from the full records only.
    without_record: Counter = field(default_factory=Counter)
    unreadable: int = 0


def add_letter(stats: Stats, subset: str, answer: str | None, n_options: int) -> None:
    """Count one multiple-choice answer, and the uniform expectation over its options."""
    letter = normalize_choice(answer) if answer else None
    if letter is None or n_options < 1:
        stats.mc_unparsed[subset] += 1
        return
    stats.letters[subset][letter] += 1
    for i in range(n_options):
        stats.letters_expected[subset][chr(ord("A") + i)] += 1.0 / n_options


def chi_square_p(observed: dict[str, float], expected: dict[str, float]) -> tuple[float, float]:
    """Pearson's chi-square of observed vs expected letter counts and its p-value (Wilson-
    Hilferty approximation, good enough to flag a skew)."""
    letters = [k for k in expected if expected[k] > 0]
    dof = len(letters) - 1
    if dof < 1:
        return 0.0, 1.0
    chi2 = sum((observed.get(k, 0) - expected[k]) ** 2 / expected[k] for k in letters)
    extra = sum(v for k, v in observed.items() if k not in expected)
    if extra:  # a letter beyond the options offered: certainly a bug
        return math.inf, 0.0
    z = ((chi2 / dof) ** (1 / 3) - (1 - 2 / (9 * dof))) / math.sqrt(2 / (9 * dof))
    return chi2, 0.5 * math.erfc(z / math.sqrt(2))


def letter_report(stats: Stats, subset: str) -> dict[str, Any]:
    observed = stats.letters[subset]
    expected = stats.letters_expected[subset]
    n = sum(observed.values())
    chi2, p = chi_square_p(observed, expected)
    top = max(observed, key=lambda k: observed[k]) if observed else ""
    # Effect size too: on a huge run a negligible imbalance is "significant" yet harmless.
    deviation = (
        max(
            (
                abs(observed.get(k, 0) - expected.get(k, 0)) / n
                for k in set(observed) | set(expected)
            ),
            default=0.0,
        )
        if n
        else 0.0
    )
    return {
        "n": n,
        "chi2": chi2,
        "p": p,
        "deviation": deviation,
        "skewed": n >= 20 and p < 0.001 and deviation >= SKEW_MIN_DEVIATION,
        "top": top,
        "top_share": observed[top] / n if n else 0.0,
        "unparsed": stats.mc_unparsed[subset],
    }


def _size_key(width: int, height: int) -> str:
    return f"{width}x{height}"


# --- turning records into viewer entries ------------------------------------------------------


def _src(path: str) -> str:
    """Image paths in records are relative to the run directory, as is report.html."""
    return path.removeprefix("./")


def _ops_json(ops: list[Any]) -> list[str]:
    out = []
    for op in ops:
        data = op.to_json() if hasattr(op, "to_json") else dict(op)
        tool = getattr(op, "tool", None) or data.pop("tool", "")
        data.pop("tool", None)
        out.append(f"{tool}: {json.dumps(data)}")
    return out


def record_scan(traj: dict[str, Any]) -> dict[str, Any]:
    """Whole-run statistics of one kept trajectory, from its full record's fields: the action
    of each turn, image sizes, answer options and the final answer (no prompt text is read)."""
    turns = traj.get("turns") or []
    item = traj.get("item") or {}
    mc = item.get("question_type") == "multiple choice"
    return {
        "turns": len(turns),
        "actions": [t["action"] for t in turns if t.get("action")],
        "input_sizes": [tuple(s) for s in traj.get("input_sizes") or []],
        "rendered_sizes": [(r["width"], r["height"]) for r in traj.get("rendered") or []],
        "options": list(item.get("options") or []) if mc else [],
        "answer": turns[-1].get("answer") if turns else None,
    }


def sharegpt_entry(record: dict[str, Any], subset: str, stage: str) -> dict[str, Any]:
    """A viewer entry of a kept sharegpt record that has no full record (a run written before
    every kept record kept one): each assistant turn with the images rendered after it (the
    `<image>` placeholders of the following user turn, in order), sizes unknown."""
    messages = record.get("conversations") or []
    images = [_src(p) for p in record.get("images") or []]
    system = next((m["content"] for m in messages if m.get("role") == "system"), "")
    body = [m for m in messages if m.get("role") != "system"]
    cursor = 0

    def take(text: str) -> list[dict[str, Any]]:
        nonlocal cursor
        out = []
        for _ in range(text.count(IMAGE_TOKEN)):
            src = images[cursor] if cursor < len(images) else ""
            cursor += 1
            out.append({"src": src, "index": cursor, "w": None, "h": None})
        return out

    question = body[0]["content"] if body else ""
    inputs = take(question)
    steps = []
    for i in range(1, len(body), 2):
        raw = body[i].get("content", "")
        reply = body[i + 1].get("content", "") if i + 1 < len(body) else ""
        parsed = parse_turn(raw)
        steps.append(
            {
                "raw": raw,
                "think": parsed.think,
                "action": parsed.action,
                "operations": _ops_json(list(parsed.operations)),
                "answer": parsed.answer,
                "error": parsed.error,
                "error_detail": parsed.error_detail,
                "format_issues": list(parsed.format_issues),
                "env_reply": reply,
                "images": take(reply),
                "parents": sorted({op.index for op in parsed.operations}),
            }
        )
    return {
        "id": record.get("id", ""),
        "stage": stage,
        "subset": subset,
        "status": KEPT,
        "reason": "",
        "detail": "",
        "system": system,
        "question": question,
        "gold": None,
        "termination": "answered" if steps and steps[-1]["answer"] is not None else "",
        "inputs": inputs,
        "steps": steps,
    }


def trajectory_scan(traj: dict[str, Any]) -> dict[str, Any]:
    return {
        "input_sizes": [tuple(s) for s in traj.get("input_sizes") or []],
        "rendered_sizes": [(r.get("width"), r.get("height")) for r in traj.get("rendered") or []],
    }


def kept_entry(traj: dict[str, Any], subset: str, stage: str) -> dict[str, Any]:
    """A viewer entry of a kept trajectory, from its full record (trajectories/)."""
    wrapped = {"sample_id": (traj.get("item") or {}).get("id", ""), "trajectory": traj}
    return {**rejection_entry(wrapped, subset, stage), "status": KEPT}


def rejection_entry(record: dict[str, Any], subset: str, stage: str) -> dict[str, Any]:
    """A viewer entry of a Rejection: its reason, and the full trajectory when it has one."""
    traj = record.get("trajectory") or {}
    item = traj.get("item") or {}
    keys = list(item.get("images") or [])
    rendered = {r["index"]: r for r in traj.get("rendered") or []}
    sizes = traj.get("input_sizes") or []
    inputs = [
        {
            "src": image_path(k),
            "index": i + 1,
            "w": sizes[i][0] if i < len(sizes) else None,
            "h": sizes[i][1] if i < len(sizes) else None,
        }
        for i, k in enumerate(keys)
    ]
    steps = []
    for turn in traj.get("turns") or []:
        imgs = []
        for idx in turn.get("new_images") or []:
            r = rendered.get(idx)
            if r:
                imgs.append(
                    {
                        "src": image_path(r["key"]),
                        "index": idx,
                        "w": r.get("width"),
                        "h": r.get("height"),
                        "parent": r.get("parent"),
                    }
                )
        steps.append(
            {
                "raw": turn.get("raw", ""),
                "think": turn.get("think", ""),
                "action": turn.get("action", ""),
                "operations": _ops_json(turn.get("operations") or []),
                "answer": turn.get("answer"),
                "error": turn.get("error", ""),
                "error_detail": turn.get("error_detail", ""),
                "format_issues": list(turn.get("format_issues") or []),
                "env_reply": turn.get("env_reply", ""),
                "images": imgs,
                "parents": sorted({img["parent"] for img in imgs if img.get("parent")}),
            }
        )
    question = traj.get("user_prompt") or item.get("question", "")
    return {
        "id": record.get("sample_id", ""),
        "stage": stage,
        "subset": subset,
        "status": REJECTED,
        "reason": record.get("reason", ""),
        "detail": record.get("detail", ""),
        "system": traj.get("system_prompt", ""),
        "question": question,
        "gold": item.get("answer"),
        "termination": traj.get("termination", ""),
        "inputs": inputs,
        "steps": steps,
    }


def rl_entry(
    record: dict[str, Any], subset: str, shard: str, keys: RLKeys = DEFAULT_KEYS
) -> dict[str, Any]:
    """The viewer entry of an RL record found in the run-relative file `shard`, its columns
    named by `keys` (the run's: schemas.rl.run_rl_keys)."""
    columns = [k for k in (keys.images, keys.image_path) if k]  # either holds the paths
    paths = [resolve_image(shard, p) for p in next(filter(None, map(record.get, columns)), [])]
    question = (record.get(keys.problem) if keys.problem else "") or (
        record.get(keys.question, "") if keys.question else ""
    )
    return {
        "id": record.get("id", ""),
        "stage": "rl_data",
        "subset": subset,
        "status": KEPT,
        "reason": "",
        "detail": "",
        "system": "",
        "question": question,
        "gold": record.get(keys.answer),
        "termination": "",
        "inputs": [
            {"src": _src(p), "index": i + 1, "w": None, "h": None} for i, p in enumerate(paths)
        ],
        "steps": [],
    }


# --- the pass over a run directory -----------------------------------------------------------


@dataclass
class Scan:
    stats: Stats
    groups: dict[tuple[str, str, str], BottomK]  # (subset, status, reason) -> sampled entries
    metrics: StageMetrics | None
    config: dict[str, Any] | None
    evaluation: dict[str, Any] = field(default_factory=dict)  # eval/<benchmark>.json

    @property
    def shown(self) -> int:
        return sum(len(g.items()) for g in self.groups.values())

    @property
    def total(self) -> int:
        return sum(g.total for g in self.groups.values())

    def entries(self) -> list[dict[str, Any]]:
        out = []
        for key in sorted(self.groups):
            out.extend(self.groups[key].items())
        return out


def _add_sizes(stats: Stats, info: dict[str, Any]) -> None:
    """Counts a trajectory's input and rendered image sizes (trajectory_scan's lists)."""
    for size in info["input_sizes"]:
        stats.sizes["input"][_size_key(*size)] += 1
    for size in info["rendered_sizes"]:
        stats.sizes["rendered"][_size_key(*size)] += 1


def scan_run(root: str, max_per_group: int, seed: int) -> Scan:
    """One streaming pass over the run directory (see the module doc)."""
    stats = Stats()
    config = read_json_file(FileSystems.join(root, layout.CONFIG))
    rl = run_rl_keys((config or {}).get("config") or {})  # the run's RL column names
    groups: dict[tuple[str, str, str], BottomK] = {}

    def offer(key: tuple[str, str, str], sample_id: str, build: Any) -> None:
        group = groups.setdefault(key, BottomK(max_per_group))
        group.add(sample_rank(seed, sample_id), sample_id, build)

    # Kept trajectories: their facts from the full records (trajectories/), counted against
    # the SFT files; a subset without full records is shown from its SFT lines only.
    recorded: set[tuple[str, str]] = set()
    for stage, subset, path in data_files(root, layout.TRAJECTORIES):
        recorded.add((stage, subset))
        for line in read_lines(path):
            try:
                traj = json.loads(line)
            except json.JSONDecodeError:
                stats.unreadable += 1
                continue
            info = record_scan(traj)
            if traj.get("grounding"):  # a teacher trajectory on a generated question
                stats.grounding.add(subset, grounding_from_dict(traj["grounding"]), kept=True)
            stats.turns[subset][info["turns"]] += 1
            tools = Counter(a for a in info["actions"] if a in TOOLS)
            stats.tool_calls[subset][sum(tools.values())] += 1
            stats.tool_totals[subset].update(info["actions"])
            _add_sizes(stats, info)
            if len(info["options"]) >= 2:
                add_letter(stats, subset, info["answer"], len(info["options"]))
            sample = str((traj.get("item") or {}).get("id", ""))
            offer((subset, KEPT, ""), sample, (line, subset, stage, "trajectory"))

    # Entries are built lazily (a closure over the line) only if they survive the sample.
    for stage, subset, path in data_files(root, layout.SFT):
        stats.stages.add(stage)
        for line in read_lines(path):
            stats.kept[subset] += 1
            if (stage, subset) in recorded:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                stats.unreadable += 1
                continue
            stats.without_record[subset] += 1
            offer((subset, KEPT, ""), str(record.get("id", "")), (line, subset, stage, "sft"))

    for stage, subset, path in data_files(root, "rejected"):
        stats.stages.add(stage)
        for line in read_lines(path):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                stats.unreadable += 1
                continue
            reason = str(record.get("reason", "?"))
            stats.rejected[(subset, reason)] += 1
            traj = record.get("trajectory")
            if traj and traj.get("grounding"):
                stats.grounding.add(subset, grounding_from_dict(traj["grounding"]), kept=False)
            if traj:
                info = trajectory_scan(traj)
                _add_sizes(stats, info)
            key = (subset, REJECTED, reason)
            offer(key, str(record.get("sample_id", "")), (line, subset, stage, "rejected"))

    for _, subset, path in rl_files(root):
        stats.stages.add("rl_data")
        for line in read_lines(path):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                stats.unreadable += 1
                continue
            stats.kept[subset] += 1
            if record.get("question_type") == "multiple choice":
                add_letter(
                    stats, subset, str(record.get(rl.answer, "")), len(record.get("options") or [])
                )
            # RL image paths are relative to their file's folder; the viewer's to the run root.
            shard = path[len(root) :].lstrip("/")
            offer((subset, KEPT, ""), str(record.get("id", "")), (line, subset, shard, "rl"))

    for benchmark, path in eval_files(root):
        stats.stages.add("evaluate")
        for line in read_lines(path):
            try:
                traj = json.loads(line)
            except json.JSONDecodeError:
                stats.unreadable += 1
                continue
            key = (benchmark, EVALUATED, eval_reason(traj))
            sample = str((traj.get("item") or {}).get("id", ""))
            offer(key, sample, (line, benchmark, "evaluate", "eval"))

    for group in groups.values():
        group._heap = [(r, k, _build(item, rl)) for r, k, item in group._heap]
    return Scan(
        stats=stats,
        groups=groups,
        metrics=read_metrics(root),
        config=config,
        evaluation=eval_results(root),
    )


def _build(item: tuple[str, str, str, str], rl: RLKeys = DEFAULT_KEYS) -> dict[str, Any]:
    line, subset, stage, kind = item
    record = json.loads(line)
    if kind == "sft":
        return sharegpt_entry(record, subset, stage)
    if kind == "trajectory":
        return kept_entry(record, subset, stage)
    if kind == "rejected":
        return rejection_entry(record, subset, stage)
    if kind == "eval":  # a bare trajectory: shown like a rejection's, grouped by its outcome
        wrapped = {"sample_id": record["item"]["id"], "reason": eval_reason(record),
                   "trajectory": record}  # fmt: skip
        return {**rejection_entry(wrapped, subset, stage), "status": EVALUATED}
    return rl_entry(record, subset, stage, rl)
