"""The run layout (schemas/layout.py): part names, finding a subset's parts, and no run path
spelled out anywhere else in the packages."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from drawreason.schemas import layout

ROOT = Path(__file__).resolve().parents[1]
# inputs/ is left out: it reads other projects' folders (a `datasets` save_to_disk has its own
# dataset_info.json).
PACKAGES = ("pipelines", "publish", "report", "trainer", "schemas", "rollout", "integrations")
# String constants that spell a run-directory path (docstrings and comments aside).
RUN_PATHS = ("sft/", "rl/", "rejected/", "trajectories/", "rollouts/", "errors/", "verl/",
             "images/", "cache/teacher", "eval/")  # fmt: skip
RUN_FILES = ("metrics.json", "dataset_info.json", "run.json", "report.html")


def test_one_part_is_the_file_itself():
    assert layout.part_count(0, 10) == layout.part_count(10, 10) == 1
    assert layout.part_file("sft/cold_start/maze.jsonl", 0, 1) == "sft/cold_start/maze.jsonl"
    assert layout.entry_path("sft/cold_start/maze.jsonl", 1) == "sft/cold_start/maze.jsonl"


def test_parts_are_named_like_hub_split_shards():
    assert layout.part_count(11, 10) == 2 and layout.part_count(20, 10) == 2
    assert layout.part_count(21, 10) == 3
    path = layout.part_file("rl/scenes.parquet", 1, 3)
    assert path == "rl/scenes/scenes-00001-of-00003.parquet"
    assert layout.entry_path("rl/scenes.parquet", 3) == "rl/scenes"
    with pytest.raises(ValueError, match="records_per_part"):
        layout.part_count(5, 0)


def test_part_index_is_a_stable_hash_spread_over_the_parts():
    ids = [f"maze-cold_start-{i:08d}" for i in range(400)]
    index = [layout.part_index(i, 4) for i in ids]
    assert index == [layout.part_index(i, 4) for i in ids]
    assert all(70 < index.count(k) < 130 for k in range(4))
    # sha256 of the id, pinned: a changed hash would move records between the parts of a
    # rerun, so the same seed would no longer give the same files.
    assert index[:8] == [0, 0, 1, 1, 3, 0, 3, 3]
    assert layout.record_file("sft/x/m.jsonl", "a", 1) == "sft/x/m.jsonl"


def test_find_subsets_lists_files_and_complete_parts():
    listing = [
        "/run/sft/cold_start/scenes.jsonl",
        "/run/sft/cold_start/maze/maze-00001-of-00002.jsonl",
        "/run/sft/cold_start/maze/maze-00000-of-00002.jsonl",
        "/run/sft/cold_start/maze/notes.txt",
        "/run/sft/cold_start/other/unrelated.jsonl",
    ]
    found = layout.find_subsets("/run/sft/cold_start", listing)
    assert found == [
        layout.Subset(
            "maze",
            (
                "/run/sft/cold_start/maze/maze-00000-of-00002.jsonl",
                "/run/sft/cold_start/maze/maze-00001-of-00002.jsonl",
            ),
        ),
        layout.Subset("scenes", ("/run/sft/cold_start/scenes.jsonl",)),
    ]


@pytest.mark.parametrize(
    "listing, message",
    [
        (["d/maze/maze-00000-of-00003.jsonl", "d/maze/maze-00002-of-00003.jsonl"], "incomplete"),
        (["d/maze/maze-00000-of-00001.jsonl", "d/maze/maze-00000-of-00002.jsonl"], "incomplete"),
        (["d/maze.jsonl", "d/maze/maze-00000-of-00001.jsonl"], "both one file and parts"),
    ],
)
def test_missing_or_mixed_parts_are_an_error(listing, message):
    with pytest.raises(ValueError, match=message):
        layout.find_subsets("d", listing)


def _code_strings(path: Path) -> list[tuple[int, str]]:
    """String constants of a module that are not docstrings, with their line."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_no_module_but_the_layout_spells_a_run_path():
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == ROOT / "schemas/layout.py":
                continue
            for line, text in _code_strings(path):
                if text.startswith(RUN_PATHS) or text in RUN_FILES:
                    found.append(f"{path.relative_to(ROOT)}:{line}: {text!r}")
    assert found == []
