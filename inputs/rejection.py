"""The rejection an input record earns for its media or its question: a reason code and a detail."""

from __future__ import annotations


class InputRejected(Exception):
    """An input image, video or question that cannot be used; `reason` is the rejection code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
