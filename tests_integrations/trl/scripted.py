"""Scripted generation for the TRL tests: a logits processor that forces scripted replies.

A random tiny model never writes a valid drawing call, so the test drives the real
`model.generate` of TRL's rollout with a transformers `LogitsProcessor` that leaves one token
possible at each step: the next token of the scripted reply for the turn being written
(constrained decoding). Everything else is TRL's own: the prompt and each follow-up prompt are
built by TRL (tool responses, images and all), the turn ends at `<|im_end|>`, TRL parses the
call with the tokenizer's `parse_response` (our protocol parser), runs our environment and feeds
the images back, then logs the model's own log-probabilities of the forced tokens.

The processor reads everything from the sequence it is given (stateless): the turn being
written is the number of finished assistant turns after the prompt's generation header, and
the script is picked by batch row at the first turn and recognised by its first reply after.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import LogitsProcessor

HEADER = "<|im_start|>assistant\n"


class ScriptedReplies(LogitsProcessor):
    """Force row r of the first generation call to play `scripts[r % len(scripts)]`."""

    def __init__(self, tokenizer, scripts: Sequence[Sequence[str]]) -> None:
        end = tokenizer.convert_tokens_to_ids("<|im_end|>")
        self.header = tokenizer.encode(HEADER, add_special_tokens=False)
        self.scripts = [
            [tokenizer.encode(reply, add_special_tokens=False) + [end] for reply in script]
            for script in scripts
        ]
        if len({tuple(s[0]) for s in self.scripts}) != len(self.scripts):
            raise ValueError("scripts must differ in their first reply (it identifies them)")
        self.end = end
        self.forced = 0  # tokens forced so far (the test checks generation went through us)

    def _turns(self, ids: list[int]) -> list[list[int]]:
        """The assistant segments of a sequence: the tokens after each assistant header."""
        n, starts = len(self.header), []
        for i in range(len(ids) - n + 1):
            if ids[i : i + n] == self.header:
                starts.append(i + n)
        segments = []
        for k, start in enumerate(starts):
            stop = starts[k + 1] - n if k + 1 < len(starts) else len(ids)
            segment = ids[start:stop]
            if self.end in segment and k + 1 < len(starts):
                segment = segment[: segment.index(self.end) + 1]
            segments.append(segment)
        return segments

    def _target(self, row: int, ids: list[int]) -> int:
        turns = self._turns(ids)
        if not turns:
            raise ValueError("no assistant header in a generation prompt")
        done, current = turns[:-1], turns[-1]
        if done:
            matches = [s for s in self.scripts if s[0] == done[0]]
            if len(matches) != 1:
                raise ValueError("a later turn whose first reply matches no script")
            script = matches[0]
        else:
            script = self.scripts[row % len(self.scripts)]
        if len(done) >= len(script):
            return self.end
        reply = script[len(done)]
        return reply[len(current)] if len(current) < len(reply) else self.end

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        forced = torch.full_like(scores, float("-inf"))
        for row, ids in enumerate(input_ids.tolist()):
            forced[row, self._target(row, ids)] = 0.0
            self.forced += 1
        return forced
