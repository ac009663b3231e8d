"""The repository carries its own documentation: no tracked file points outside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
THIS = Path(__file__).resolve()
# A pointer to documents a clone does not have (the project's spec, shared notes), or to this
# machine's file system. The bare word SPEC catches "the SPEC format" and the like.
OUTSIDE = re.compile(r"\.\./shared|shared/SPEC|SPEC\.md|SPEC\s*§|\bSPEC\b|(?<![\w.~-])/work/")


def tracked_text_files() -> list[Path]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    files = []
    for name in out.decode("utf-8").split("\0"):
        path = ROOT / name
        if not name or not path.is_file() or path.resolve() == THIS:
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:  # binary (images, archives)
            continue
        files.append(path)
    return files


def test_no_pointer_outside_the_repository() -> None:
    found: dict[str, None] = {}
    for path in tracked_text_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in OUTSIDE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            source = text.splitlines()[line - 1].strip()
            found[f"{path.relative_to(ROOT)}:{line}: {source}"] = None
    assert not found, "pointers outside the repository:\n" + "\n".join(found)
