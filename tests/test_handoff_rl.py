"""The verl and TRL hand-off commands that `python -m drawreason.trainer handoff` writes for
verl rows."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from drawreason.trainer.handoff import write_handoff
from drawreason.trainer.handoff_rl import REPO, TESTED, trl_args, verl_overrides


def test_tested_versions_are_the_pins_the_integration_tests_ran_against():
    for name in ("verl", "trl"):
        pins = (REPO / f"requirements-{name}.txt").read_text()
        assert re.search(rf"^{name}=={re.escape(TESTED[name])}$", pins, re.M), name


def test_handoff_writes_verl_and_trl_scripts_for_verl_rows(tmp_path: Path):
    run = tmp_path / "run"
    (run / "verl").mkdir(parents=True)
    for subset in ("scenes", "maze"):
        (run / "verl" / f"{subset}.parquet").write_bytes(b"")
    written = write_handoff(run, tmp_path / "out", model="Qwen/Qwen2.5-VL-7B-Instruct")
    assert set(written) == {"stage3_verl", "stage3_trl"}
    files = [str(run.resolve() / "verl" / f"{s}.parquet") for s in ("maze", "scenes")]
    verl = Path(written["stage3_verl"]).read_text()
    trl = Path(written["stage3_trl"]).read_text()
    assert f"verl=={TESTED['verl']}" in verl and f"trl=={TESTED['trl']}" in trl
    assert f"data.train_files=[{','.join(files)}]" in verl
    for key in ("rollout.n=8", "use_kl_loss=False", "optim.lr=1e-06", "format=drawreason"):
        assert key in verl
    for arg in ("--num-generations 8", "--learning-rate 1e-06", " ".join(files)):
        assert arg in " ".join(trl.split())
    for path in written.values():
        subprocess.run(["bash", "-n", path], check=True)  # valid shell
        assert Path(path).stat().st_mode & 0o111


def test_overrides_and_args_carry_the_vilasr_hyper_parameters():
    overrides = dict(o.split("=", 1) for o in verl_overrides("m", ["a.parquet"], "out"))
    assert overrides["actor_rollout_ref.rollout.n"] == "8"
    assert overrides["actor_rollout_ref.actor.optim.lr"] == "1e-06"
    assert overrides["actor_rollout_ref.actor.use_kl_loss"] == "False"
    assert overrides["algorithm.use_kl_in_reward"] == "False"
    args = trl_args("m", ["a.parquet"], "out")
    assert args[args.index("--num-generations") + 1] == "8"
    assert args[args.index("--grounding-weight") + 1] == "0.0"  # the reward's term, off
