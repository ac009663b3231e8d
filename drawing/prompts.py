"""Prompt templates (system, question, environment turns) loaded from text files, not code."""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

IMAGE_TOKEN = "<image>"
DEFAULT_DIR = Path(__file__).resolve().parent / "templates"
OPTION_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# Template file -> the placeholders it may use.
TEMPLATE_FIELDS: dict[str, frozenset[str]] = {
    "system.txt": frozenset({"width", "height", "max_calls"}),
    "question.txt": frozenset({"images", "question", "options", "suffix"}),
    "image_line.txt": frozenset({"index", "width", "height"}),
    "suffix_multiple_choice.txt": frozenset(),
    "suffix_numerical.txt": frozenset(),
    "env_continue.txt": frozenset({"images"}),
    "env_final.txt": frozenset({"images"}),
}


class TemplateError(ValueError):
    """A template file is missing or uses a placeholder it may not."""


def _fields(text: str, name: str) -> set[str]:
    try:
        return {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
    except ValueError as exc:
        raise TemplateError(f"template {name}: {exc}") from exc


def _letter_prefixed(option: str, letter: str) -> bool:
    stripped = option.lstrip()
    return stripped.startswith((f"{letter}.", f"({letter})", f"{letter})", f"{letter}:"))


@dataclass(frozen=True)
class Prompts:
    """The texts of one prompt set; `load` reads and checks them."""

    templates: dict[str, str]

    @classmethod
    def load(cls, directory: str | Path | None = None) -> Prompts:
        """Templates from `directory`, each missing file falling back to the default one."""
        templates = {}
        for name, allowed in TEMPLATE_FIELDS.items():
            path = Path(directory) / name if directory else DEFAULT_DIR / name
            if not path.is_file():
                path = DEFAULT_DIR / name
            text = path.read_text(encoding="utf-8").rstrip("\n")
            unknown = _fields(text, str(path)) - allowed
            if unknown:
                raise TemplateError(
                    f"template {path}: unknown placeholder(s) {sorted(unknown)}; "
                    f"allowed: {sorted(allowed) or 'none'}"
                )
            templates[name] = text
        return cls(templates)

    def _image_lines(self, images: Sequence[tuple[int, int, int]]) -> str:
        line = self.templates["image_line.txt"]
        return "\n".join(line.format(index=i, width=w, height=h) for i, w, h in images)

    def system(self, width: int, height: int, max_calls: int) -> str:
        return self.templates["system.txt"].format(width=width, height=height, max_calls=max_calls)

    def question(
        self,
        question: str,
        options: Sequence[str],
        question_type: str,
        sizes: Sequence[tuple[int, int]],
    ) -> str:
        """The first user turn: each input image with its index line, question, options, suffix."""
        images = self._image_lines([(i + 1, w, h) for i, (w, h) in enumerate(sizes)])
        lines = []
        for letter, option in zip(OPTION_LETTERS, options, strict=False):
            lines.append(option if _letter_prefixed(option, letter) else f"{letter}. {option}")
        suffix_name = {
            "multiple choice": "suffix_multiple_choice.txt",
            "numerical": "suffix_numerical.txt",
        }.get(question_type)
        suffix = self.templates[suffix_name] if suffix_name else ""
        return (
            self.templates["question.txt"]
            .format(
                images=images,
                question=question.strip(),
                options="".join(f"{line}\n" for line in lines),
                suffix=suffix,
            )
            .strip()
        )

    def env_reply(self, new_images: Sequence[tuple[int, int, int]], final: bool) -> str:
        """The environment turn after a drawing: the new images, then continue or answer now."""
        name = "env_final.txt" if final else "env_continue.txt"
        return self.templates[name].format(images=self._image_lines(new_images)).strip()
