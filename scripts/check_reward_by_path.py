"""Load the reward files by path, as trainers do, beside unrelated packages named like ours.

    python scripts/check_reward_by_path.py case CASE.json
        (drawreason importable) writes an oracle maze trajectory, decoded as a trainer sees it,
        and the scores the data filters gave it
    python scripts/check_reward_by_path.py score ROOT CASE.json
        puts packages named `filters`, `schemas`, `drawing` and `trainer` first on sys.path and
        imports them, then loads ROOT/trainer/reward.py, ROOT/trainer/easyr1_reward.py and
        ROOT/integrations/verl/reward.py by path (ROOT: an installed site-packages/drawreason,
        or a checkout) and checks every score against the case, and that `drawreason` came
        from ROOT while the unrelated packages stayed what they were

Run by scripts/check_package.sh (the installed wheel, then a checkout with drawreason not
installed) and tests/test_reward.py (the checkout). Prints one line; exit status 1 on a mismatch.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

UNRELATED = ("filters", "schemas", "drawing", "trainer")
SCORED = ("overall", "accuracy", "format", "reflection")


def write_case(path: Path) -> None:
    from drawreason.drawing.prompts import Prompts
    from drawreason.generators.maze import MazeConfig
    from drawreason.generators.oracle import build_oracle_sample
    from drawreason.schemas.records import Provenance
    from drawreason.trainer.reward import trajectory_response

    provenance = Provenance(producer="check", config_hash="0", seed=0, code_version="check")
    prompts = Prompts.load()
    samples = (
        build_oracle_sample("maze", i, 7, MazeConfig(), prompts, provenance) for i in range(40)
    )
    # A trajectory that corrects a drawing: the reward's hardest path (reflection detection).
    traj = next(s.trajectory for s in samples if s.trajectory.scores["reflection"])
    case = {
        "response": trajectory_response(traj),
        "answer": traj.item.answer,
        "question_type": traj.item.question_type,
        "scores": {
            "overall": traj.scores["reward_acc_gated"],
            **{key: traj.scores[key] for key in SCORED if key != "overall"},
        },
    }
    path.write_text(json.dumps(case), encoding="utf-8")
    print(f"case: {traj.id}, {len(traj.turns)} turns, scores {case['scores']}")


def import_unrelated(folder: Path) -> dict[str, ModuleType]:
    for name in UNRELATED:
        (folder / name).mkdir()
        (folder / name / "__init__.py").write_text(f"UNRELATED = {name!r}\n", encoding="utf-8")
    sys.path.insert(0, str(folder))
    return {name: importlib.import_module(name) for name in UNRELATED}


def load_by_path(path: Path, name: str) -> ModuleType:
    """What EasyR1 and verl do with `reward_function=PATH:compute_score`."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def score(root: Path, case: dict[str, Any]) -> list[str]:
    """Mismatches (empty when every file scored the case as the filters did)."""
    with tempfile.TemporaryDirectory() as tmp:
        unrelated = import_unrelated(Path(tmp))
        reward = load_by_path(root / "trainer" / "reward.py", "custom_reward_fn")
        easyr1 = load_by_path(root / "trainer" / "easyr1_reward.py", "easyr1_reward_fn")
        verl = load_by_path(root / "integrations" / "verl" / "reward.py", "verl_reward_fn")
        response, answer, qtype = case["response"], case["answer"], case["question_type"]
        got = {
            "trainer/reward.py": reward.compute_score(response, answer, qtype),
            "trainer/easyr1_reward.py": easyr1.compute_score(
                {"response": response, "response_length": 0, "ground_truth": answer}
            ),
            "integrations/verl/reward.py": verl.compute_score(
                "drawreason", response, answer, {"question_type": qtype}
            ),
        }
        wrong = "Z" if qtype == "multiple choice" else str(float(answer) + 100)
        failed = reward.compute_score(response, wrong, qtype)
        problems = [
            f"{file}: {key} {scores.get(key)} != {case['scores'][key]}"
            for file, scores in got.items()
            for key in SCORED
            if scores.get(key) != case["scores"][key]
        ]
        if failed["overall"] != 0.0:
            problems.append(f"a wrong answer scored {failed['overall']}")
        for name, module in unrelated.items():
            if sys.modules.get(name) is not module:
                problems.append(f"the unrelated {name} package was replaced in sys.modules")
        package = Path(sys.modules["drawreason"].__file__ or "").resolve()
        if root.resolve() not in (package.parent, package.parent.parent):
            problems.append(f"drawreason was imported from {package}, not from {root}")
        scoring = Path(sys.modules["drawreason.filters.scoring"].__file__ or "").resolve()
        if not scoring.is_relative_to(root.resolve()):
            problems.append(f"drawreason.filters.scoring came from {scoring}")
        return problems


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[1] == "case":
        write_case(Path(argv[2]))
        return 0
    if len(argv) == 4 and argv[1] == "score":
        root = Path(argv[2])
        problems = score(root, json.loads(Path(argv[3]).read_text(encoding="utf-8")))
        for problem in problems:
            print(f"reward by path from {root}: {problem}", file=sys.stderr)
        if not problems:
            print(f"reward by path ok from {root}: three files, unrelated {', '.join(UNRELATED)}")
        return 1 if problems else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
