"""Loss, perplexity and bits per byte of a model on a whole token split.

The split is read in its fixed evaluation order (`TokenSplit.eval_batches`:
consecutive, non-overlapping windows of block_size tokens), so every token but the
first (and a tail shorter than a window) is predicted exactly once, from up to
block_size - 1 tokens of context, and two runs give the same figures.

Bits per byte does not depend on the tokenizer, so models with different vocabularies
compare: the summed cross-entropy (nats) over the predicted tokens, converted to bits
(/ ln 2), divided by the UTF-8 bytes those tokens stand for. An <|endoftext|> is
predicted (its nats count) but stands for no bytes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from nanoforge.data.memmap import TokenSplit
from nanoforge.model.gpt import GPT
from nanoforge.tokenizers.base import Tokenizer


@dataclass(frozen=True)
class SplitScore:
    """How well a model predicts one split."""

    tokens: int
    """Tokens predicted."""
    bytes: int
    """UTF-8 bytes those tokens stand for."""
    loss: float
    """Mean cross-entropy, nats per token."""
    perplexity: float
    """exp(loss)."""
    bits_per_byte: float
    """Summed cross-entropy in bits over the bytes of the predicted text."""

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def token_byte_lengths(tokenizer: Tokenizer) -> np.ndarray:
    """(V,) how many bytes each token id stands for (0 for special tokens)."""
    return np.array([len(tokenizer.token_bytes(i)) for i in range(tokenizer.vocab_size)])


@torch.inference_mode()
def score_split(
    model: GPT, split: TokenSplit, tokenizer: Tokenizer, batch_size: int = 32
) -> SplitScore:
    """Loss, perplexity and bits per byte of `model` over the whole of `split`."""
    device = next(model.parameters()).device
    byte_lengths = token_byte_lengths(tokenizer)
    nats, tokens, n_bytes = 0.0, 0, 0
    model.eval()
    for x, y in split.eval_batches(batch_size, model.config.block_size):
        logits, _ = model(torch.from_numpy(x).to(device))  # (B, T, V)
        targets = torch.from_numpy(y).to(device)  # (B, T)
        nats += F.cross_entropy(
            logits.flatten(0, 1).float(), targets.flatten(), reduction="sum"
        ).item()
        tokens += y.size
        n_bytes += int(byte_lengths[y].sum())
    loss = nats / tokens
    return SplitScore(
        tokens=tokens,
        bytes=n_bytes,
        loss=loss,
        perplexity=math.exp(loss),
        bits_per_byte=nats / math.log(2) / n_bytes,
    )
