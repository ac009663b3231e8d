"""Lenient reading of JSON-ish operation lists: JSON, trailing commas, Python literals."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from typing import Any

_TRAILING_COMMA_RE = re.compile(r",\s*([\]}])")
_LITERAL_RE = re.compile(r"\b(true|false|null)\b")
_PY_LITERALS = {"true": "True", "false": "False", "null": "None"}
MAX_CANDIDATES = 64  # bracket starts tried by `balanced_spans` (bounds the work on long text)
# The `how` notes of `load_literal`, recorded as format issues by drawing/parse.py.
TRAILING_COMMAS = "trailing commas in JSON"
PYTHON_LITERAL = "operations written as a Python literal, not JSON"
JSON_WORDS_IN_LITERAL = "operations written as a Python literal with JSON true/false/null"


class LiteralError(ValueError):
    """Text that is neither JSON nor a Python literal; the message is the JSON error."""


def _outside_strings(text: str, fn: Callable[[str], str]) -> str:
    """`fn` applied to the parts of `text` outside quoted strings ('...' or "...")."""
    out: list[str] = []
    i, start, n = 0, 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "\"'":
            out.append(fn(text[start:i]))
            j = i + 1
            while j < n and text[j] != ch:
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = start = j + 1
        else:
            i += 1
    out.append(fn(text[start:]))
    return "".join(out)


def load_literal(text: str) -> tuple[Any, str]:
    """(value, how) from JSON, else JSON without trailing commas, else a Python literal with
    JSON's true/false/null mapped (outside strings). `how` is "" for plain JSON, else a note
    naming the deviation (TRAILING_COMMAS, PYTHON_LITERAL, or JSON_WORDS_IN_LITERAL when the
    literal needed that mapping). Raises LiteralError with the JSON error if nothing reads it."""
    text = text.strip()
    try:
        return json.loads(text), ""
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, and too-long integers
        first_error = exc
    cleaned = _outside_strings(text, lambda s: _TRAILING_COMMA_RE.sub(r"\1", s))
    if cleaned != text:
        try:
            return json.loads(cleaned), TRAILING_COMMAS
        except (ValueError, RecursionError):
            pass
    literal = _outside_strings(text, lambda s: _LITERAL_RE.sub(lambda m: _PY_LITERALS[m[1]], s))
    try:
        value = ast.literal_eval(literal)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise LiteralError(str(first_error)) from None
    return value, JSON_WORDS_IN_LITERAL if literal != text else PYTHON_LITERAL


def _balanced_end(text: str, start: int) -> int | None:
    """End (exclusive) of the bracket-balanced span opening at `start`, else None.

    Quotes are respected; a newline inside a string ends the attempt (neither JSON nor a Python
    literal allows one), which keeps an apostrophe in prose from swallowing the rest.
    """
    closers = {"[": "]", "{": "}"}
    stack: list[str] = []
    i, n = start, len(text)
    while i < n:
        ch = text[i]
        if ch in "\"'":
            j = i + 1
            while j < n and text[j] != ch and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            if j >= n or text[j] == "\n":
                return None
            i = j
        elif ch in closers:
            stack.append(closers[ch])
        elif ch in "]}":
            if not stack or stack.pop() != ch:
                return None
            if not stack:
                return i + 1
        i += 1
    return None


def balanced_spans(text: str, opener: str) -> list[tuple[int, int]]:
    """(start, end) of bracket-balanced spans opening with `opener` ("[" or "{"), in order,
    trying at most MAX_CANDIDATES starts."""
    spans = []
    pos = text.find(opener)
    for _ in range(MAX_CANDIDATES):
        if pos == -1:
            break
        end = _balanced_end(text, pos)
        if end is not None:
            spans.append((pos, end))
        pos = text.find(opener, pos + 1)
    return spans
