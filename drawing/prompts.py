"""Prompt templates (system, question, environment turns) loaded from text files, not code."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

IMAGE_TOKEN = "<image>"
DEFAULT_DIR = Path(__file__).resolve().parent / "templates"
OPTION_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

_QUESTION_FIELDS = frozenset(
    {"images", "question", "options", "suffix", "count", "width", "height"}
)
_IMAGE_LINE_FIELDS = frozenset({"index", "width", "height"})
_ENV_FIELDS = frozenset({"images", "count"})

# Template file -> the placeholders it may use. `question.txt` and `image_line.txt` are the
# fallbacks of the more specific files below them (see FALLBACKS).
TEMPLATE_FIELDS: dict[str, frozenset[str]] = {
    "system.txt": frozenset({"width", "height", "max_calls", "count"}),
    "question.txt": _QUESTION_FIELDS,
    "question_single_image.txt": _QUESTION_FIELDS,
    "question_multi_image.txt": _QUESTION_FIELDS,
    "question_maze.txt": _QUESTION_FIELDS,
    "image_line.txt": _IMAGE_LINE_FIELDS,
    "image_line_question.txt": _IMAGE_LINE_FIELDS,
    "image_line_env.txt": _IMAGE_LINE_FIELDS,
    "suffix_multiple_choice.txt": frozenset(),
    "suffix_numerical.txt": frozenset(),
    "env_continue.txt": _ENV_FIELDS,
    "env_final.txt": _ENV_FIELDS,
}
# A specific template missing from a prompt set is its fallback template of the same set.
FALLBACKS: dict[str, str] = {
    "question_single_image.txt": "question.txt",
    "question_multi_image.txt": "question.txt",
    "question_maze.txt": "question.txt",
    "image_line_question.txt": "image_line.txt",
    "image_line_env.txt": "image_line.txt",
}
IMAGE_LINES = ("image_line.txt", "image_line_question.txt", "image_line_env.txt")
SUFFIX_TEMPLATES: dict[str, str] = {
    "multiple choice": "suffix_multiple_choice.txt",
    "numerical": "suffix_numerical.txt",
}  # free-form questions get no suffix (they are not scored)


def question_template(data_type: str, num_images: int) -> str:
    """The question template of an item: mazes, multi-image and video items, single images."""
    if data_type == "maze":
        return "question_maze.txt"
    if num_images > 1 or data_type in ("video", "multi_view"):
        return "question_multi_image.txt"
    return "question_single_image.txt"


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
    expected = 1 if name in IMAGE_LINES else 0
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

    A file missing from the user directory falls back to the default one (a specific template
    such as `question_maze.txt` first to the set's own `question.txt`). Every template is read
    and checked at construction, so a bad placeholder fails before any sample is made. A
    template's text is used exactly as written, whitespace included, except the one newline
    that ends the file.
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory else DEFAULT_DIR
        templates: dict[str, str] = {}
        for name in TEMPLATE_FIELDS:  # fallbacks come before the files that fall back to them
            path = self.directory / name
            if not path.is_file() and name in FALLBACKS:
                templates[name] = templates[FALLBACKS[name]]
                continue
            if not path.is_file():
                path = DEFAULT_DIR / name
            text = path.read_text(encoding="utf-8").removesuffix("\n")
            _check(text, path, name)
            templates[name] = text
        self.templates: Mapping[str, str] = MappingProxyType(templates)

    @classmethod
    def load(cls, directory: str | Path | None = None) -> Prompts:
        """Same as `Prompts(directory)`."""
        return cls(directory)

    def __reduce__(self) -> tuple:  # picklable for Beam workers despite the read-only mapping
        return (_from_templates, (dict(self.templates), str(self.directory)))

    def _image_lines(self, name: str, images: Sequence[tuple[int, int, int]]) -> str:
        line = self.templates[name]
        return "\n".join(line.format(index=i, width=w, height=h) for i, w, h in images)

    def system(self, width: int, height: int, max_calls: int, count: int = 1) -> str:
        """The system prompt, stating the first image's size, the image count and the budget."""
        return self.templates["system.txt"].format(
            width=width, height=height, max_calls=max_calls, count=count
        )

    def question(
        self,
        question: str,
        options: Sequence[str],
        question_type: str,
        sizes: Sequence[tuple[int, int]],
        data_type: str = "",
    ) -> str:
        """The first user turn: each input image with its index line, question, options, suffix,
        from the template of the item's kind (`question_template`).

        Options are raw strings; letters A, B, ... are added unless an option already starts
        with its own letter ("A." or "(A)"). Raises ValueError for more than 26 options.
        """
        if len(options) > len(OPTION_LETTERS):
            raise ValueError(f"{len(options)} options, at most {len(OPTION_LETTERS)} supported")
        images = self._image_lines(
            "image_line_question.txt", [(i + 1, w, h) for i, (w, h) in enumerate(sizes)]
        )
        lines = []
        for letter, option in zip(OPTION_LETTERS, options, strict=False):
            option = _clean(option)
            lines.append(option if _has_letter(option, letter) else f"{letter}. {option}")
        suffix_name = SUFFIX_TEMPLATES.get(question_type)
        width, height = sizes[0] if sizes else (0, 0)
        return self.templates[question_template(data_type, len(sizes))].format(
            images=images,
            question=_clean(question),
            options="".join(f"{line}\n" for line in lines),
            suffix=self.templates[suffix_name] if suffix_name else "",
            count=len(sizes),
            width=width,
            height=height,
        )

    def env_reply(self, new_images: Sequence[tuple[int, int, int]], final: bool) -> str:
        """The environment turn after a drawing: each new (index, width, height) image with its
        index line, then "check and continue", or with `final` "tools are gone, answer now"."""
        name = "env_final.txt" if final else "env_continue.txt"
        return self.templates[name].format(
            images=self._image_lines("image_line_env.txt", new_images), count=len(new_images)
        )

    def image_line_patterns(self) -> tuple[re.Pattern[str], ...]:
        """Regular expressions matching the question's and the environment's image lines as
        a chat template renders them (`<image>` or Qwen's vision tokens), with groups `index`,
        `width` and `height` where the template has them: how the reward reads image sizes
        from a decoded sequence without knowing the wording."""
        names = dict.fromkeys(
            self.templates[n] for n in ("image_line_question.txt", "image_line_env.txt")
        )
        return tuple(re.compile(_line_regex(text)) for text in names)


_VISION = r"(?:<image>|<\|vision_start\|>(?:<\|image_pad\|>|<\|video_pad\|>)*<\|vision_end\|>)"


def _line_regex(template: str) -> str:
    parts, named = [], set()
    for literal, field, _, _ in string.Formatter().parse(template):
        parts.append(_VISION.join(re.escape(piece) for piece in literal.split(IMAGE_TOKEN)))
        if field is not None:
            parts.append(f"(?P={field})" if field in named else rf"(?P<{field}>\d+)")
            named.add(field)
    return "".join(parts)


def _from_templates(templates: dict[str, str], directory: str) -> Prompts:
    prompts = Prompts.__new__(Prompts)
    prompts.directory = Path(directory)
    prompts.templates = MappingProxyType(templates)
    return prompts
