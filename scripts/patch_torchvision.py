"""Makes the registry's torchvision 0.28.0 (a CUDA build) importable beside the CPU torch.

Its C extension cannot load there, and two unconditional fake-kernel registrations in
`torchvision/_meta_registrations.py` then make `import torchvision` raise
`RuntimeError: operator torchvision::nms does not exist`. This rewrites both decorators to
register only when the extension's ops exist (`torchvision.extension._has_ops()`), as the
file's own `register_meta` helper already does; the pure-torch transforms keep working.
Recipe: docs/vllm-on-cpu.md. Run with the Python of the venv to patch; running it
again changes nothing. Prints what it did; exits 1 if the file does not look as expected.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

OPS = ("nms", "qnms")


def original(op: str) -> str:
    return f'@torch.library.register_fake("torchvision::{op}")\n'


def patched(op: str) -> str:
    return (
        f'@(torch.library.register_fake("torchvision::{op}") '
        "if torchvision.extension._has_ops() else (lambda fn: fn))  # patched: CPU torch\n"
    )


def patch_text(text: str) -> tuple[str, list[str]]:
    """(new text, ops patched now). Raises ValueError unless each op's decorator occurs
    exactly once, either original or already patched."""
    done: list[str] = []
    for op in OPS:
        before, after = text.count(original(op)), text.count(patched(op))
        if (before, after) == (1, 0):
            text = text.replace(original(op), patched(op))
            done.append(op)
        elif (before, after) != (0, 1):
            raise ValueError(
                f"expected one register_fake decorator for torchvision::{op}, found "
                f"{before} original and {after} patched"
            )
    return text, done


def main() -> int:
    spec = importlib.util.find_spec("torchvision")  # does not import it (that would fail)
    if spec is None or spec.origin is None:
        print("patch_torchvision: torchvision is not installed", file=sys.stderr)
        return 1
    path = Path(spec.origin).parent / "_meta_registrations.py"
    if not path.is_file():
        print(f"patch_torchvision: {path} does not exist", file=sys.stderr)
        return 1
    try:
        text, done = patch_text(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        print(f"patch_torchvision: {path}: {exc}", file=sys.stderr)
        return 1
    if done:
        path.write_text(text, encoding="utf-8")
        print(f"patch_torchvision: made the {', '.join(done)} fake kernels conditional in {path}")
    else:
        print(f"patch_torchvision: {path} is already patched")
    return 0


if __name__ == "__main__":
    sys.exit(main())
