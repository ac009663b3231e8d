"""`python -m drawreason.trainer {sft,grpo,handoff} ...`: the trainer without the stage runner.

Flags are the config fields with dashes (`--grad-accum 4`, `--no-freeze-vision`); the same
options as `python run_pipeline.py --stage train_sft|train_grpo`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from collections.abc import Sequence
from typing import Any

from drawreason.trainer.grpo import GRPOConfig, run_train_grpo
from drawreason.trainer.sft import SFTConfig, run_train_sft


def _add_config_flags(parser: argparse.ArgumentParser, config_class: type) -> None:
    hints = typing.get_type_hints(config_class)
    for f in dataclasses.fields(config_class):
        flag = "--" + f.name.replace("_", "-")
        hint = hints[f.name]
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        if hint is bool:
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=default, help="%(default)s"
            )
        elif typing.get_origin(hint) is tuple:
            parser.add_argument(
                flag, nargs="*", default=list(default), help="space separated; default: none"
            )
        else:
            parser.add_argument(flag, type=hint, default=default, help="default: %(default)r")


def _config(config_class: type, args: argparse.Namespace) -> Any:
    values = {}
    for f in dataclasses.fields(config_class):
        value = getattr(args, f.name)
        values[f.name] = tuple(value) if isinstance(value, list) else value
    return config_class(**values)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drawreason.trainer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, config_class in (("sft", SFTConfig), ("grpo", GRPOConfig)):
        p = sub.add_parser(name, help=f"{name.upper()} training (see trainer/{name}.py)")
        _add_config_flags(p, config_class)
        p.add_argument("--overwrite", action="store_true", help="restart a run in --output")
    h = sub.add_parser(
        "handoff", help="write LLaMA-Factory / EasyR1 configs and verl / TRL commands for a run dir"
    )
    h.add_argument("--data", required=True, help="run directory")
    h.add_argument("--output", required=True, help="where to write the YAML files")
    h.add_argument("--model", default="Qwen/Qwen2.5-VL-7B-Instruct")
    h.add_argument("--reflective-data", default=None, help="run dir of the reflective data")
    h.add_argument("--saves", default=None, help="training output root in the configs")
    args = parser.parse_args(argv)
    if args.command == "handoff":
        from drawreason.trainer.handoff import write_handoff

        written = write_handoff(
            args.data, args.output, args.model, args.reflective_data, args.saves
        )
        print(json.dumps(written, indent=2))
        return 0
    if args.command == "sft":
        result = run_train_sft(_config(SFTConfig, args), args.output, (), args.overwrite)
    else:
        result = run_train_grpo(_config(GRPOConfig, args), args.output, (), args.overwrite)
    print(result["summary"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
