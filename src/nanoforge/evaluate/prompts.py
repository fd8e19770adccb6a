"""Prompts taken from real text: document beginnings of a token split, with what follows.

The decoding table prompts every strategy with the first `prompt_tokens` of val
documents, and scores the document's real next `continuation_tokens` the same way as
the generated ones (the human row), so the two compare directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nanoforge.data.memmap import TokenSplit
from nanoforge.errors import DataError


@dataclass(frozen=True)
class Prompt:
    """A real prompt and the real text that followed it."""

    ids: list[int]
    continuation: list[int]


def documents(split: TokenSplit) -> list[np.ndarray]:
    """The split's documents (the arrays between <|endoftext|> tokens), in file order."""
    tokens = np.memmap(split.path, dtype=split.dtype, mode="r")
    bounds = np.flatnonzero(tokens == split.meta.eot_id)
    starts = np.concatenate([[0], bounds + 1])
    ends = np.concatenate([bounds, [len(tokens)]])
    return [np.asarray(tokens[a:b]) for a, b in zip(starts, ends, strict=True) if b > a]


def document_prompts(
    split: TokenSplit, n: int, prompt_tokens: int, continuation_tokens: int
) -> list[Prompt]:
    """`n` prompts: the beginnings of the first documents long enough for a prompt and its
    continuation; when too few are, further non-overlapping stretches of the long ones."""
    span = prompt_tokens + continuation_tokens
    docs = [doc for doc in documents(split) if len(doc) >= span]
    prompts: list[Prompt] = []
    offset = 0
    while len(prompts) < n and any(len(doc) >= offset + span for doc in docs):
        for doc in docs:
            if len(prompts) < n and len(doc) >= offset + span:
                piece = doc[offset : offset + span].tolist()
                prompts.append(Prompt(piece[:prompt_tokens], piece[prompt_tokens:]))
        offset += span
    if len(prompts) < n:
        raise DataError(
            f"{split.path}: only {len(prompts)} stretches of {span} tokens for {n} prompts; "
            "lower evaluate.n_prompts, prompt_tokens or max_new_tokens"
        )
    return prompts
