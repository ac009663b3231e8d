"""Renders trajectories of a run directory as a picture: one row per trajectory, every image
in order (inputs, then each rendered step), each captioned with its index and the action that
produced it. For looking at data before training on it.

  python scripts/trajectory_sheet.py RUN_DIR OUT.png [--subset maze] [--n 2] [--rejected]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from drawreason.drawing.parse import parse_turn  # noqa: E402


def _records(run: Path, subset: str, rejected: bool) -> list[dict]:
    folder = run / ("rejected" if rejected else "sft") / "cold_start"
    path = folder / f"{subset}.jsonl"
    files = [path] if path.is_file() else sorted((folder / subset).glob("*.jsonl"))
    return [json.loads(line) for f in files for line in f.read_text().splitlines() if line]


def _captions(record: dict) -> list[str]:
    """One caption per image: 'input' for inputs, then the action of the turn that drew it."""
    captions = []
    last = "input"
    for message in record["conversations"]:
        if message["role"] == "assistant":
            parsed = parse_turn(message["content"])
            labels = sorted({op.label for op in parsed.operations})
            last = f"{parsed.action}: {', '.join(labels)}" if labels else parsed.action
        elif message["role"] == "user":
            for _ in range(message["content"].count("<image>")):
                captions.append(last)
    return captions


def render_sheet(run: Path, records: list[dict], tile: int = 224, per_row: int = 8) -> Image.Image:
    font = ImageFont.load_default(size=13)
    rows: list[tuple[dict, int]] = []
    for record in records:
        n = len(record["images"])
        rows += [(record, start) for start in range(0, n, per_row)]
    sheet = Image.new("RGB", (per_row * tile, len(rows) * (tile + 40)), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (record, start) in enumerate(rows):
        captions = _captions(record)
        y = r * (tile + 40)
        if start == 0:
            draw.text((4, y + 2), record["id"], fill=(0, 0, 0), font=font)
        for c, path in enumerate(record["images"][start : start + per_row]):
            k = start + c
            with Image.open(run / path) as im:
                thumb = im.convert("RGB").resize((tile, tile))
            sheet.paste(thumb, (c * tile, y + 18))
            caption = f"{k + 1}: {captions[k] if k < len(captions) else ''}"
            draw.text((c * tile + 4, y + tile + 20), caption[:34], fill=(0, 0, 0), font=font)
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--subset", default="maze")
    parser.add_argument("--n", type=int, default=2, help="trajectories to show")
    parser.add_argument("--rejected", action="store_true", help="show rejected ones instead")
    parser.add_argument("--reflective", action="store_true", help="prefer self-correcting ones")
    args = parser.parse_args()
    records = _records(args.run_dir, args.subset, args.rejected)
    if args.rejected:
        records = [
            {"id": r["sample_id"], **_from_rejection(r)} for r in records if r.get("trajectory")
        ]
    if args.reflective:
        records.sort(key=lambda r: not any(w in json.dumps(r) for w in ("dead end", "redraw")))
    render_sheet(args.run_dir, records[: args.n]).save(args.out)
    print(args.out)


def _from_rejection(rejection: dict) -> dict:
    from drawreason.schemas.records import rejection_from_dict
    from drawreason.schemas.sharegpt import image_path

    traj = rejection_from_dict(rejection).trajectory
    conversations = [{"role": "user", "content": traj.user_prompt}]
    for turn in traj.turns:
        conversations.append({"role": "assistant", "content": turn.raw})
        if turn.env_reply:
            conversations.append({"role": "user", "content": turn.env_reply})
    return {"conversations": conversations, "images": [image_path(k) for k in traj.image_keys]}


if __name__ == "__main__":
    main()
