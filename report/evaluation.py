"""The report's evaluation section: per benchmark, accuracy per sub-task (table and bars) and
the behaviour table, from eval/<benchmark>.json of an evaluate run."""

from __future__ import annotations

from html import escape
from typing import Any

from drawreason.report.svg import bar_chart

COLUMNS = ("sub-task", "questions", "trajectories", "accuracy", "95% interval", "pass@1",
           "pass@k", "reflective", "turns", "box ops", "line ops", "format valid")  # fmt: skip


def _row(name: str, accuracy: dict[str, Any], behaviour: dict[str, Any]) -> list[str]:
    low, high = accuracy.get("ci95", [0.0, 0.0])
    return [
        name,
        str(accuracy.get("questions", 0)),
        str(accuracy.get("trajectories", 0)),
        f"{accuracy.get('mean', 0.0):.4f}",
        f"[{low:.4f}, {high:.4f}] ({accuracy.get('ci_method', '')})",
        f"{accuracy.get('pass@1', 0.0):.4f}",
        f"{accuracy.get('pass@k', 0.0):.4f}",
        f"{behaviour.get('reflective_share', 0.0):.1%}",
        f"{behaviour.get('mean_assistant_turns', 0.0):.2f}",
        f"{behaviour.get('mean_box_ops', 0.0):.2f}",
        f"{behaviour.get('mean_line_ops', 0.0):.2f}",
        f"{behaviour.get('format_valid_share', 0.0):.1%}",
    ]


def _table(rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{escape(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f'<table class="summary"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def benchmark_block(doc: dict[str, Any]) -> str:
    """One benchmark: its table (all, then each sub-task), accuracy bars per sub-task, the
    reflection kinds and termination reasons, and what was not scored."""
    name = str(doc.get("benchmark", "?"))
    subtasks = doc.get("subtasks") or {}
    rows = [_row("all", doc.get("accuracy") or {}, doc.get("behaviour") or {})]
    rows += [
        _row(s, e.get("accuracy") or {}, e.get("behaviour") or {}) for s, e in subtasks.items()
    ]
    names = list(subtasks)
    chart = bar_chart(
        f"{name}: accuracy per sub-task",
        names,
        {"accuracy": [subtasks[s]["accuracy"].get("mean", 0.0) for s in names]},
        y_label="accuracy",
        chart_id=f"p-eval-{name}",
    )
    behaviour = doc.get("behaviour") or {}
    kinds = ", ".join(
        f"{k} {v:.1%}" for k, v in (behaviour.get("reflective_by_kind") or {}).items()
    )
    ends = ", ".join(f"{k} {v}" for k, v in (behaviour.get("termination") or {}).items())
    skipped = doc.get("not_scored") or {}
    rejected = sum((skipped.get("rejected") or {}).values())
    notes = (
        f"policy {doc.get('policy', '?')}, temperature {doc.get('temperature', '?')}, "
        f"{doc.get('samples_per_item', 1)} sample(s) per question. Reflection by kind: "
        f"{kinds or '-'}. Terminations: {ends or '-'}. Not scored: {skipped.get('errors', 0)} "
        f"error(s), {rejected} rejected."
    )
    return (
        f'<div class="eval-benchmark"><h3>{escape(name)}</h3>{_table(rows)}'
        f'<figure class="plot"><figcaption>{escape(name)}: accuracy per sub-task</figcaption>'
        f'{chart}</figure><p class="note">{escape(notes)}</p></div>'
    )


def evaluation_section(results: dict[str, Any]) -> str:
    """The section for an evaluate run, "" for any other run."""
    if not results:
        return ""
    blocks = "".join(benchmark_block(results[name]) for name in sorted(results))
    return f'<section id="evaluation"><h2>Evaluation</h2>{blocks}</section>'
