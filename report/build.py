"""The `report` stage: one self-contained static HTML page about a run directory.

`DIR/report.html` inlines its CSS, JavaScript, plots (SVG drawn here) and the sampled
trajectories (JSON). Images are referenced by their relative paths `images/ab/<sha>.png`: the
page sits beside `images/` in DIR, so DIR is self-contained, the page stays small however many
images the sample shows, and the browser loads an image only when the viewer shows it. Set
`embed_images` to inline the sampled images as data URLs instead (one file to mail around).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from importlib import resources
from typing import Any

from apache_beam.io.filesystems import FileSystems
from drawreason.filters.length import CUTOFF_LEN, ESTIMATE
from drawreason.report.data import EVALUATED, KEPT, REJECTED, Scan, letter_report, scan_run
from drawreason.report.evaluation import evaluation_section
from drawreason.report.grounding import grounding_figures
from drawreason.report.svg import bar_chart
from drawreason.report.traces import skewed_families, trace_figures
from drawreason.schemas import layout
from drawreason.schemas.metrics import StageMetrics
from drawreason.storage.files import write_bytes

STAGE = "report"
REPORT_FILE = layout.REPORT


@dataclass(frozen=True)
class ReportConfig:
    """max_per_group: trajectories sampled for the viewer per (subset, kept / rejection reason)
    group; seed: which ones (a stable hash of seed and id, independent of file order)."""

    max_per_group: int = 20
    seed: int = 0
    title: str = ""
    embed_images: bool = False

    def __post_init__(self) -> None:
        if self.max_per_group < 0:
            raise ValueError(f"max_per_group must be >= 0, got {self.max_per_group}")


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath("assets", name).read_text(encoding="utf-8")


def script_json(data: Any) -> str:
    """JSON safe inside <script type="application/json">: no `</script>`, no `<!--`."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _hist(subsets: Sequence[str], table: dict[str, dict]) -> tuple:
    """Integer histogram categories min..max and one series per subset."""
    values = sorted({int(k) for s in subsets for k in table.get(s, {})})
    if not values:
        return [], {}
    cats = list(range(values[0], values[-1] + 1))
    series = {s: [table.get(s, {}).get(c, 0) for c in cats] for s in subsets}
    return [str(c) for c in cats], series


def _figure(title: str, svg: str, note: str = "", warn: str = "") -> str:
    parts = [f'<figure class="plot"><figcaption>{escape(title)}</figcaption>', svg]
    if warn:
        parts.append(f'<p class="warn">{escape(warn)}</p>')
    if note:
        parts.append(f'<p class="note">{escape(note)}</p>')
    parts.append("</figure>")
    return "".join(parts)


def _empty(title: str, why: str) -> str:
    return _figure(title, f'<p class="empty">{escape(why)}</p>')


def plots(scan: Scan) -> list[str]:
    """The plots, as <figure> HTML with inline SVG."""
    stats = scan.stats
    metrics = scan.metrics or StageMetrics(stage="")
    msub = metrics.subsets
    subsets = sorted(set(stats.kept) | {s for s, _ in stats.rejected} | set(msub))
    figs = []

    # Counts per subset: metrics.json is exact (it also knows errors); else what the files hold.
    kept = [msub[s].kept if s in msub else stats.kept[s] for s in subsets]
    rej = [
        sum(msub[s].rejected.values())
        if s in msub
        else sum(n for (ss, _), n in stats.rejected.items() if ss == s)
        for s in subsets
    ]
    err = [msub[s].errors if s in msub else stats.errors[s] for s in subsets]
    series = {"kept": kept, "rejected": rej}
    if any(err):
        series["errors"] = err
    figs.append(
        _figure(
            "Samples per subset",
            bar_chart("Samples per subset", subsets, series, stacked=True, chart_id="p-subsets"),
        )
    )

    reasons: dict[str, dict[str, int]] = {}
    if msub:
        for s in subsets:
            for reason, n in (msub[s].rejected if s in msub else {}).items():
                reasons.setdefault(reason, {})[s] = n
    else:
        for (s, reason), n in stats.rejected.items():
            reasons.setdefault(reason, {})[s] = n
    if reasons:
        names = sorted(reasons, key=lambda r: -sum(reasons[r].values()))
        figs.append(
            _figure(
                "Rejections per reason",
                bar_chart(
                    "Rejections per reason",
                    names,
                    {s: [reasons[r].get(s, 0) for r in names] for s in subsets},
                    stacked=True,
                    chart_id="p-reasons",
                ),
            )
        )
    else:
        figs.append(_empty("Rejections per reason", "No rejected samples in this run."))

    cats, series = _hist(subsets, {s: dict(stats.turns[s]) for s in stats.turns})
    if cats:
        figs.append(
            _figure(
                "Turns per kept trajectory",
                bar_chart(
                    "Turns per kept trajectory",
                    cats,
                    series,
                    x_label="assistant turns",
                    y_label="trajectories",
                    chart_id="p-turns",
                ),
            )
        )
    cats, series = _hist(subsets, {s: dict(stats.tool_calls[s]) for s in stats.tool_calls})
    if cats:
        figs.append(
            _figure(
                "Drawing actions per kept trajectory",
                bar_chart(
                    "Drawing actions per kept trajectory",
                    cats,
                    series,
                    x_label="tool calls (Object Mapper + Path Tracer turns)",
                    y_label="trajectories",
                    chart_id="p-actions",
                ),
            )
        )
        actions = sorted({a for s in subsets for a in stats.tool_totals[s]})
        figs.append(
            _figure(
                "Actions by kind (all kept turns)",
                bar_chart(
                    "Actions by kind",
                    actions,
                    {s: [stats.tool_totals[s][a] for a in actions] for s in subsets},
                    y_label="turns",
                    chart_id="p-action-kinds",
                ),
            )
        )

    kinds = sorted({k for s in subsets if s in msub for k in msub[s].reflection})
    if kinds:
        rates = ", ".join(f"{s} {msub[s].reflective_rate if s in msub else 0:.0%}" for s in subsets)
        figs.append(
            _figure(
                "Reflection kinds (kept trajectories)",
                bar_chart(
                    "Reflection kinds",
                    kinds,
                    {
                        s: [msub[s].reflection.get(k, 0) if s in msub else 0 for k in kinds]
                        for s in subsets
                    },
                    y_label="trajectories",
                    chart_id="p-reflection",
                ),
                note=f"Share of kept trajectories that reflect: {rates}. From metrics.json.",
            )
        )
    else:
        figs.append(_empty("Reflection kinds", "No reflection counts in metrics.json."))

    for s in sorted(stats.letters):
        observed = stats.letters[s]
        expected = stats.letters_expected[s]
        letters = sorted(set(observed) | set(expected))
        rep = letter_report(stats, s)
        warn = ""
        if rep["skewed"]:
            warn = (
                f"Skewed: {rep['top']} is {rep['top_share']:.0%} of {rep['n']} answers "
                f"(chi-square {rep['chi2']:.1f}, p = {rep['p']:.1g} against options "
                "uniformly shuffled). Check how options are shuffled."
            )
        note = (
            f"{rep['n']} final answers of kept trajectories (RL: answer keys). Dashes: "
            f"expected counts if options were shuffled uniformly; chi-square p = {rep['p']:.2g}."
        )
        if rep["unparsed"]:
            note += f" {rep['unparsed']} answer(s) were not a letter."
        figs.append(
            _figure(
                f"Answer letters, multiple choice · {s}",
                bar_chart(
                    f"Answer letters {s}",
                    letters,
                    {s: [observed[c] for c in letters]},
                    expected=[expected[c] for c in letters],
                    expected_label="uniform",
                    y_label="answers",
                    chart_id=f"p-letters-{s}",
                ),
                note=note,
                warn=warn,
            )
        )
    if not stats.letters:
        figs.append(_empty("Answer letters", "No multiple-choice questions in this run."))

    sizes = sorted(
        {k for kind in stats.sizes for k in stats.sizes[kind]},
        key=lambda k: -sum(stats.sizes[kind][k] for kind in stats.sizes),
    )
    if sizes:
        shown, rest = sizes[:12], sizes[12:]
        kinds_ = [k for k in ("input", "rendered") if k in stats.sizes]
        series = {k: [stats.sizes[k][c] for c in shown] for k in kinds_}
        note = "Width x height as the model saw them (the index line of each image)."
        if rest:
            note += f" {len(rest)} rarer sizes not shown."
        figs.append(
            _figure(
                "Image sizes",
                bar_chart("Image sizes", shown, series, y_label="images", chart_id="p-sizes"),
                note=note,
            )
        )
    figs.append(_length_figure(scan, subsets))
    figs += [_figure(*fig) for fig in grounding_figures(metrics, stats.grounding)]
    figs += [_figure(*fig) for fig in trace_figures(metrics.traces)]
    return figs


def run_max_tokens(scan: Scan) -> int:
    """The run's length limit (config `length.max_tokens`; the default for runs before it)."""
    config = (scan.config or {}).get("config") or {}
    length = config.get("length")
    if isinstance(length, dict) and isinstance(length.get("max_tokens"), int):
        return length["max_tokens"]
    return CUTOFF_LEN


def _length_figure(scan: Scan, subsets: Sequence[str]) -> str:
    """Token length of the kept SFT records, as the stage estimated it with the run's own
    config and processor (metrics.json `token_length`): histogram and percentiles."""
    title = "Token length per kept SFT record"
    msub = scan.metrics.subsets if scan.metrics else {}
    lengths = {s: msub[s].token_length for s in subsets if s in msub and msub[s].token_length}
    shown = [s for s in subsets if s in lengths and lengths[s].n]
    if not shown:
        return _empty(title, "No token lengths of kept SFT records in metrics.json.")
    limit = run_max_tokens(scan)
    bucket = lengths[shown[0]].bucket
    starts = sorted({int(k) // bucket for s in shown for k in lengths[s].histogram})
    cats = list(range(starts[0], starts[-1] + 1))
    series = {s: [lengths[s].histogram.get(str(c * bucket), 0) for c in cats] for s in shown}
    labels = [f"{c * bucket // 1024}-{(c + 1) * bucket // 1024}k" for c in cats]
    rows = "; ".join(
        f"{s}: n {m.n}, mean {m.mean:.0f}, p50 {m.p50}, p90 {m.p90}, p99 {m.p99}, max {m.max}"
        for s, m in ((s, lengths[s]) for s in shown)
    )
    over = [s for s in shown if limit and lengths[s].max > limit]
    limit_text = f"length.max_tokens {limit}" if limit else "no length limit (max_tokens 0)"
    note = (
        f"Tokens for a Qwen2-VL / Qwen2.5-VL trainer, estimated by the stage with the run's "
        f"own length config: images exact from their sizes (28x28 per token after the "
        f"processor's resize, + 2 markers), text by {ESTIMATE}, 5 per message for the chat "
        f"template (filters/length.py). From metrics.json. {rows}. Limit: {limit_text}."
    )
    if any(scan.stats.without_record.values()):
        note += " Kept records without a full record are counted here, not in the other plots."
    warn = f"kept records above the limit in {', '.join(over)}." if over else ""
    return _figure(
        title,
        bar_chart(
            title,
            labels,
            series,
            stacked=True,
            x_label="estimated tokens",
            y_label="records",
            chart_id="p-tokens",
        ),
        note=note,
        warn=warn,
    )


def _summary_table(scan: Scan) -> str:
    metrics = scan.metrics
    if metrics is None or not metrics.subsets:
        return ""
    cols = ["subset", "input", "kept", "rejected", "errors", "reflective (kept)", "accounted"]
    rows = []
    for s, e in sorted(metrics.subsets.items()):
        rows.append(
            [
                s,
                e.input,
                e.kept,
                sum(e.rejected.values()),
                e.errors,
                f"{e.reflective_rate:.0%}" if e.turns else "-",
                "yes" if e.accounted else "NO",
            ]
        )
    rows.append(
        [
            "all",
            metrics.input,
            metrics.kept,
            sum(metrics.rejected.values()),
            metrics.errors,
            "",
            "yes" if metrics.accounted else "NO",
        ]
    )
    head = "".join(f"<th>{escape(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f'<table class="summary"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def sampling_note(scan: Scan, config: ReportConfig) -> str:
    groups = scan.groups
    capped = sum(1 for g in groups.values() if g.total > len(g.items()))
    text = (
        f"The viewer shows {scan.shown} of {scan.total} trajectories: at most "
        f"{config.max_per_group} per (subset, kept / rejection reason) group, chosen by a "
        f"stable hash of id and seed {config.seed}"
    )
    text += f"; {capped} group(s) were sampled." if capped else "; no group needed sampling."
    return text + " The plots count every record."


def _embed(root: str, entries: list[dict[str, Any]]) -> None:
    cache: dict[str, str] = {}
    for entry in entries:
        images = list(entry["inputs"]) + [i for st in entry["steps"] for i in st["images"]]
        for img in images:
            src = img["src"]
            if src and src not in cache:
                path = FileSystems.join(root, src)
                try:
                    with FileSystems.open(path) as f:
                        data = base64.b64encode(f.read()).decode("ascii")
                    cache[src] = f"data:image/png;base64,{data}"
                except (OSError, FileNotFoundError):
                    cache[src] = src
            img["src"] = cache.get(src, src)


def render_html(scan: Scan, config: ReportConfig, root: str = "") -> str:
    """The whole page. Model text only reaches the DOM through textContent (see report.js)
    and the data JSON is script-safe, so no record can inject markup."""
    entries = scan.entries()
    if config.embed_images and root:
        _embed(root, entries)
    cfg = scan.config or {}
    stages = ", ".join(sorted(scan.stats.stages)) or (scan.metrics.stage if scan.metrics else "?")
    title = config.title or f"drawreason report · {stages}"
    meta = [f"stage(s): {stages}"]
    if cfg.get("config_hash"):
        meta.append(f"config {cfg['config_hash'][:12]}")
    if cfg.get("code_version"):
        meta.append(f"code {str(cfg['code_version'])[:12]}")
    if cfg.get("seed") is not None and cfg:
        meta.append(f"run seed {cfg['seed']}")
    meta.append(f"generated {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC")
    data = {
        "entries": entries,
        "reasons": sorted({e["reason"] for e in entries if e["status"] in (REJECTED, EVALUATED)}),
        "subsets": sorted({e["subset"] for e in entries}),
        "groups": [
            {
                "subset": k[0],
                "status": k[1],
                "reason": k[2],
                "total": g.total,
                "shown": len(g.items()),
            }
            for k, g in sorted(scan.groups.items())
        ],
    }
    figures = "".join(plots(scan))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{_asset("report.css")}</style>
</head>
<body>
<header>
<h1>{escape(title)}</h1>
<p class="meta">{escape(" · ".join(meta))}</p>
</header>
<main>
<section id="overview">
{_summary_table(scan)}
<div id="plots">{figures}</div>
</section>
{evaluation_section(scan.evaluation)}
<section id="viewer">
<h2>Trajectory viewer</h2>
<p class="note" id="sampling">{escape(sampling_note(scan, config))}</p>
<div class="filters">
<label>subset <select id="f-subset"><option value="">all</option></select></label>
<label>status <select id="f-status"><option value="">all</option>
<option value="{KEPT}">kept</option><option value="{REJECTED}">rejected</option>
<option value="{EVALUATED}">evaluated</option></select></label>
<label>rejection reason <select id="f-reason"><option value="">all</option></select></label>
<span id="f-count"></span>
</div>
<div class="viewer">
<ol id="traj-list"></ol>
<div id="traj">
<div class="traj-head"><h3 id="traj-title">No trajectory selected</h3>
<p id="traj-meta" class="note"></p></div>
<div class="stepper">
<button id="prev" type="button" title="previous turn (left arrow)">&larr; prev</button>
<span id="step-label"></span>
<button id="next" type="button" title="next turn (right arrow)">next &rarr;</button>
</div>
<div class="step">
<div id="step-images"></div>
<div id="step-text"></div>
</div>
</div>
</div>
</section>
</main>
<script type="application/json" id="report-data">{script_json(data)}</script>
<script>{_asset("report.js")}</script>
</body>
</html>
"""


def run_report(
    config: ReportConfig, output: str, beam_argv: Sequence[str] = (), overwrite: bool = False
) -> dict[str, Any]:
    """Write DIR/report.html about the run in DIR (`output`); returns the stage summary.

    `beam_argv` and `overwrite` are accepted for the stage interface and ignored: the report
    reads files directly and always rewrites report.html only.
    """
    start = time.monotonic()
    scan = scan_run(output, config.max_per_group, config.seed)
    page = render_html(scan, config, output)
    path = FileSystems.join(output, REPORT_FILE)
    write_bytes(path, page.encode("utf-8"))
    elapsed = time.monotonic() - start
    skewed = [s for s in scan.stats.letters if letter_report(scan.stats, s)["skewed"]]
    summary = (
        f"report: {path} ({scan.shown} trajectories shown of {scan.total}; at most "
        f"{config.max_per_group} per group; {len(page) // 1024} KiB; {elapsed:.1f}s)"
    )
    if skewed:
        summary += f"\n  WARNING: skewed multiple-choice answer letters in {', '.join(skewed)}"
    if families := skewed_families(scan.metrics.traces if scan.metrics else {}):
        summary += f"\n  WARNING: skewed answer values in {', '.join(families)}"
    if not scan.total:
        summary += "\n  WARNING: no sft/, rejected/ or rl/ records found (nor eval/)"
    return {
        "stage": STAGE,
        "accounted": True,
        "summary": summary,
        "report": path,
        "shown": scan.shown,
        "total": scan.total,
        "elapsed_s": round(elapsed, 2),
    }
