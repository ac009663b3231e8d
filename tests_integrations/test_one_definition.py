"""One definition: the same scripted replies give the same images (PNG bytes), the same next-turn
text and the same reward through every entry point that runs the drawing environment, and the
same reward again on a row that carries oracle facts with a grounding weight.

Run in the project's venv; the entry points that need another venv run there as subprocesses
(`python -m tests_integrations.one_definition ENTRY`): grpo and trl in .venv-trl (torch +
transformers), verl in .venv-verl. A missing venv skips its entry point (SKIP_TRL / SKIP_VERL);
DRAWREASON_ONE_DEFINITION_STRICT=1 (scripts/test.sh sets it when it built them) fails instead.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests_integrations.common import GROUNDING_WEIGHT, ROOT
from tests_integrations.one_definition import trace

VENVS = {"grpo": ".venv-trl", "trl": ".venv-trl", "verl": ".venv-verl"}


def plain(reply: str) -> str:
    return reply.replace("<image>\n", "").replace("<image>", "")


@pytest.fixture(scope="module")
def reference():
    return trace("environment")


def run_entry(entry: str) -> dict:
    if entry not in VENVS:
        return trace(entry)
    python = ROOT / VENVS[entry] / "bin" / "python"
    if not python.exists():
        if os.environ.get("DRAWREASON_ONE_DEFINITION_STRICT") == "1":
            pytest.fail(f"{python} is missing")
        pytest.skip(f"{VENVS[entry]} not built")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [str(python), "-m", "tests_integrations.one_definition", entry],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode:
        raise AssertionError(f"{entry} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_reference_trajectory_draws_twice_and_answers_right(reference):
    assert reference["calls"] == 2 and len(reference["images"]) == 2
    assert len(reference["replies"]) == 2 and all("<image>" in r for r in reference["replies"])
    assert reference["reward"] > 0
    # on a row with oracle facts: the box is grounded, the line is not (grounding 0.5)
    assert reference["grounded_reward"] == pytest.approx(
        reference["reward"] - GROUNDING_WEIGHT * (1 - 0.5)
    )


@pytest.mark.parametrize("entry", ["teacher", "grpo", "verl", "trl"])
def test_entry_point_gives_same_images_text_and_reward(entry, reference):
    got = run_entry(entry)
    assert got["images"] == reference["images"]  # sha256 of the PNG bytes
    assert got["calls"] == reference["calls"]
    if entry == "verl":  # its tool message carries the images apart from the text
        assert got["replies"] == [plain(r) for r in reference["replies"]]
    else:
        assert got["replies"] == reference["replies"]
    assert got["reward"] == reference["reward"]
    assert got["grounded_reward"] == reference["grounded_reward"]
