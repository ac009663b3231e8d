"""Readers of a run take facts from the records, not from the rendered prompts: a run made
with reworded prompt templates (`prompts_dir`) gives the report and the dataset card the same
figures as one made with the default templates."""

import json
import re
from pathlib import Path

import pytest
from drawreason.publish.card import action_stats, card_body, collect_sources
from drawreason.publish.dataset import read_run, split_sources
from drawreason.report import ReportConfig, run_report

import run_pipeline

# Image lines and options worded so that nothing in them reads like the defaults: no
# "(width: W, height: H)", and the first option does not start a line.
TEMPLATES = {
    "image_line.txt": "<image>\nPicture number {index} is {width} px wide and {height} px tall.",
    "question.txt": "{images}\nTask: {question}\nPick one of these -> {options}{suffix}",
    "suffix_multiple_choice.txt": "Reply with the letter.",
}
TOKENS = "Token length per kept SFT record"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("prompts")
    prompts = base / "prompts"
    prompts.mkdir()
    for name, text in TEMPLATES.items():
        (prompts / name).write_text(text + "\n", encoding="utf-8")
    config = base / "config.json"
    config.write_text(json.dumps({"prompts_dir": str(prompts)}))
    out = {}
    for name, extra in (("default", []), ("custom", ["--config", str(config)])):
        argv = ["--stage", "cold_start_data", "--output", str(base / name)]
        argv += ["--num-samples", "16", "--seed", "5", *extra]
        assert run_pipeline.main(argv) == 0
        out[name] = base / name
    return out


def _figures(run: Path) -> dict[str, str]:
    assert run_report(ReportConfig(), str(run))["total"]
    html = (run / "report.html").read_text(encoding="utf-8")
    found = re.findall(r"<figure[^>]*><figcaption>(.*?)</figcaption>(.*?)</figure>", html, re.S)
    return dict(found)


def test_the_custom_templates_were_used(runs):
    custom = (runs["custom"] / "sft/cold_start/scenes.jsonl").read_text(encoding="utf-8")
    default = (runs["default"] / "sft/cold_start/scenes.jsonl").read_text(encoding="utf-8")
    assert "px wide and" in custom and "(width: " not in custom and "Pick one of these" in custom
    assert "(width: " in default


def test_report_figures_equal_those_of_the_default_prompts(runs):
    default, custom = _figures(runs["default"]), _figures(runs["custom"])
    assert set(default) == set(custom)
    assert {"Image sizes", "Actions by kind (all kept turns)", "Turns per kept trajectory"} <= set(
        default
    )
    assert any(c.startswith("Answer letters, multiple choice") for c in default)
    for caption in default:
        if caption != TOKENS:  # reworded prompts have other lengths
            assert custom[caption] == default[caption], caption
    # Token lengths are the ones the stage wrote with the run's own templates.
    for name, figures in (("default", default), ("custom", custom)):
        metrics = json.loads((runs[name] / "metrics.json").read_text())
        lengths = metrics["subsets"]["maze"]["token_length"]
        assert (
            f"maze: n {lengths['n']}, mean {lengths['mean']:.0f}, p50 {lengths['p50']}"
            in (figures[TOKENS])
        )


def test_card_figures_equal_those_of_the_default_prompts(runs):
    sections = {}
    for name, path in runs.items():
        run = read_run(str(path))
        splits = split_sources(run)
        stats = action_stats(run, splits)
        assert stats["maze"]["actions"]["Path Tracer"] > 0 and stats["scenes"]["images"] > 0
        sources = collect_sources(run, [s.subset for s in splits])
        body = card_body(run, "org/data", splits, sources, stats)
        start = body.index("## Turns, actions and reflection")
        sections[name] = (stats, body[start : body.index("## ", start + 3)])
    assert sections["custom"] == sections["default"]
