"""The trace figures of a run, from metrics.json: sentence diversity per subset and answer
values per question family (the figures of generators/diversity.py)."""

from __future__ import annotations

from html import escape
from typing import Any

from drawreason.report.data import SKEW_MIN_DEVIATION, chi_square_p
from drawreason.report.svg import bar_chart

Figure = tuple[str, str, str, str]  # (title, html, note, warn)


def diversity_table(traces: dict[str, Any]) -> Figure:
    """One row per subset: turns, sentences, distinct patterns (and per 1,000 turns), top-10."""
    rows = []
    for subset, entry in sorted(traces.items()):
        d = entry.get("diversity") or {}
        cells = [
            subset,
            d.get("turns", ""),
            d.get("sentences", ""),
            d.get("distinct_patterns", ""),
            d.get("patterns_per_1000_turns", ""),
            f"{d['top10_share']:.1%}" if "top10_share" in d else "",
        ]
        rows.append("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in cells) + "</tr>")
    head = (
        "<tr><th>subset</th><th>turns</th><th>sentences</th><th>distinct patterns</th>"
        "<th>per 1,000 turns</th><th>top-10 share</th></tr>"
    )
    html = f'<table class="summary traces">{head}{"".join(rows)}</table>'
    note = (
        "Every assistant turn's reasoning split into sentences; a pattern is a sentence with "
        "numbers as N and object names as X. Top-10 share: sentences covered by the 10 most "
        "common patterns (a template-like trace scores high). From metrics.json."
    )
    return ("Trace diversity", html, note, "")


def _expected(entry: dict[str, Any]) -> dict[str, float]:
    """The entry's uniform expectation (older metrics.json: uniform over the values seen)."""
    if entry.get("expected"):
        return {k: float(v) for k, v in entry["expected"].items()}
    values = entry.get("values") or {}
    return {k: entry["n"] / len(values) for k in values}


def balance_skew(entry: dict[str, Any]) -> dict[str, Any]:
    """Chi-square of a family's answer values against its uniform expectation; skewed when
    significant (p < 0.001, n >= 20) and some value is SKEW_MIN_DEVIATION off its share."""
    observed = {k: float(v) for k, v in entry["values"].items()}
    expected = _expected(entry)
    chi2, p = chi_square_p(observed, expected)
    n = entry["n"]
    skewed = n >= 20 and p < 0.001 and entry["max_deviation"] >= SKEW_MIN_DEVIATION
    return {"chi2": chi2, "p": p, "skewed": skewed}


def balance_figures(traces: dict[str, Any]) -> list[Figure]:
    """One bar chart per subset: answer values per family against the uniform expectation."""
    figs = []
    for subset, entry in sorted(traces.items()):
        families = entry.get("answer_balance") or {}
        if not families:
            continue
        cats, counts, expected, skewed = [], [], [], []
        for family, fam in sorted(families.items()):
            for value, share in _expected(fam).items():
                cats.append(f"{family}:{value}")
                counts.append(fam["values"].get(value, 0))
                expected.append(share)
            rep = balance_skew(fam)
            if rep["skewed"]:
                skewed.append(f"{family} (p = {rep['p']:.1g}, off by {fam['max_deviation']:.0%})")
        chart = bar_chart(
            f"Answer values {subset}",
            cats,
            {subset: counts},
            expected=expected,
            expected_label="uniform",
            y_label="answers",
            chart_id=f"p-balance-{subset}",
        )
        note = (
            "Answer values of every generated trajectory per question family (letters, "
            "directions, counts; measured answers such as centimetres are left out). Dashes: "
            "uniform over the values offered. From metrics.json."
        )
        warn = f"Skewed answers: {', '.join(skewed)}." if skewed else ""
        figs.append((f"Answer values per family · {subset}", chart, note, warn))
    return figs


def skewed_families(traces: dict[str, dict[str, Any]]) -> list[str]:
    """'subset/family' of every skewed family in metrics.json's `traces` (for the stage
    summary)."""
    out = []
    for subset, entry in sorted(traces.items()):
        for family, fam in sorted((entry.get("answer_balance") or {}).items()):
            if balance_skew(fam)["skewed"]:
                out.append(f"{subset}/{family}")
    return out


def trace_figures(traces: dict[str, dict[str, Any]]) -> list[Figure]:
    """The trace figures of metrics.json's `traces`, or [] when it has none."""
    if not traces:
        return []
    return [diversity_table(traces), *balance_figures(traces)]
