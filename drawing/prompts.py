"""Prompt templates (system, question, environment turns) loaded from text files, not code."""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

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
SUFFIX_TEMPLATES: dict[str, str] = {
    "multiple choice": "suffix_multiple_choice.txt",
    "numerical": "suffix_numerical.txt",
}  # free-form questions get no suffix (they are not scored)


class TemplateError(ValueError):
    """A template file uses a placeholder it may not, or misplaces the image token."""


def _check(text: str, path: Path, name: str) -> None:
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
    except ValueError as exc:
        raise TemplateError(f"template {path}: {exc}") from exc
    unknown = fields - TEMPLATE_FIELDS[name]
    if unknown:
        raise TemplateError(
            f"template {path}: unknown placeholder(s) {sorted(unknown)}; "
            f"allowed: {sorted(TEMPLATE_FIELDS[name]) or 'none'}"
        )
    # Each image must appear as exactly one token, so only the image line may carry one.
    expected = 1 if name == "image_line.txt" else 0
    if text.count(IMAGE_TOKEN) != expected:
        raise TemplateError(
            f"template {path}: contains {IMAGE_TOKEN!r} {text.count(IMAGE_TOKEN)} time(s), "
            f"expected {expected}"
        )


def _has_letter(option: str, letter: str) -> bool:
    stripped = option.lstrip()
    return stripped.startswith((f"{letter}.", f"({letter})", f"{letter})", f"{letter}:"))


def _clean(text: str) -> str:
    """Text from a dataset without stray image tokens (they would break the image count)."""
    return text.replace(IMAGE_TOKEN, "").strip()


class Prompts:
    """One prompt set: the default templates, or a user directory overriding some of them.

    A file missing from the user directory falls back to the default one. Every template is
    read and checked at construction, so a bad placeholder fails before any sample is made.
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory else DEFAULT_DIR
        templates = {}
        for name in TEMPLATE_FIELDS:
            path = self.directory / name
            if not path.is_file():
                path = DEFAULT_DIR / name
            text = path.read_text(encoding="utf-8").rstrip("\n")
            _check(text, path, name)
            templates[name] = text
        self.templates: Mapping[str, str] = MappingProxyType(templates)

    @classmethod
    def load(cls, directory: str | Path | None = None) -> Prompts:
        """Same as `Prompts(directory)`."""
        return cls(directory)

    def __reduce__(self) -> tuple:  # picklable for Beam workers despite the read-only mapping
        return (_from_templates, (dict(self.templates), str(self.directory)))

    def _image_lines(self, images: Sequence[tuple[int, int, int]]) -> str:
        line = self.templates["image_line.txt"]
        return "\n".join(line.format(index=i, width=w, height=h) for i, w, h in images)

    def system(self, width: int, height: int, max_calls: int) -> str:
        """The system prompt, stating the first image's size and the call budget."""
        return self.templates["system.txt"].format(width=width, height=height, max_calls=max_calls)

    def question(
        self,
        question: str,
        options: Sequence[str],
        question_type: str,
        sizes: Sequence[tuple[int, int]],
    ) -> str:
        """The first user turn: each input image with its index line, question, options, suffix.

        Options are raw strings; letters A, B, ... are added unless an option already starts
        with its own letter ("A." or "(A)"). Raises ValueError for more than 26 options.
        """
        if len(options) > len(OPTION_LETTERS):
            raise ValueError(f"{len(options)} options, at most {len(OPTION_LETTERS)} supported")
        images = self._image_lines([(i + 1, w, h) for i, (w, h) in enumerate(sizes)])
        lines = []
        for letter, option in zip(OPTION_LETTERS, options, strict=False):
            option = _clean(option)
            lines.append(option if _has_letter(option, letter) else f"{letter}. {option}")
        suffix_name = SUFFIX_TEMPLATES.get(question_type)
        return (
            self.templates["question.txt"]
            .format(
                images=images,
                question=_clean(question),
                options="".join(f"{line}\n" for line in lines),
                suffix=self.templates[suffix_name] if suffix_name else "",
            )
            .strip()
        )

    def env_reply(self, new_images: Sequence[tuple[int, int, int]], final: bool) -> str:
        """The environment turn after a drawing: each new (index, width, height) image with its
        index line, then "check and continue", or with `final` "tools are gone, answer now"."""
        name = "env_final.txt" if final else "env_continue.txt"
        return self.templates[name].format(images=self._image_lines(new_images)).strip()


def _from_templates(templates: dict[str, str], directory: str) -> Prompts:
    prompts = Prompts.__new__(Prompts)
    prompts.directory = Path(directory)
    prompts.templates = MappingProxyType(templates)
    return prompts
