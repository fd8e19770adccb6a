"""Choosing the next token from logits: greedy, temperature, top-k and top-p (nucleus).

The four strategies are presets of three knobs, applied in this order to the logits of
the tokens still allowed (the ghost-byte blocker has already set the others to -inf):

    logits / temperature  ->  keep the top_k best  ->  keep the smallest set whose
    probability reaches top_p (the nucleus)  ->  softmax  ->  sample

- `greedy`: the single best token (deterministic); so is any strategy at temperature 0.
- `temperature`: sample from softmax(logits / T); T < 1 sharpens, T > 1 flattens.
- `top_k`: temperature, then only the k most likely tokens (Fan et al. 2018).
- `top_p`: temperature, then the nucleus (Holtzman et al. 2019); a top_k may also be set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import torch
from torch import Tensor

from nanoforge.errors import ConfigError

Strategy = Literal["greedy", "temperature", "top_k", "top_p"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)


@dataclass(frozen=True)
class Sampling:
    """A decoding strategy and its knobs, checked on construction."""

    strategy: Strategy = "top_p"
    temperature: float = 1.0
    """Divides the logits; 0 means greedy whatever the strategy."""
    top_k: int | None = None
    """Keep only the k most likely tokens (strategy top_k; optional with top_p)."""
    top_p: float | None = None
    """Keep the smallest set of tokens whose probability reaches p (strategy top_p)."""

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ConfigError(
                f"strategy must be one of {' | '.join(STRATEGIES)} (got {self.strategy!r})"
            )
        if not self.temperature >= 0:
            raise ConfigError(f"temperature must be >= 0 (got {self.temperature})")
        if self.top_k is not None and self.top_k < 1:
            raise ConfigError(f"top_k must be at least 1 (got {self.top_k})")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p must be in (0, 1] (got {self.top_p})")
        needs = {"top_k": self.top_k, "top_p": self.top_p}
        if self.strategy in needs and needs[self.strategy] is None:
            raise ConfigError(f"strategy {self.strategy} needs a value for {self.strategy}")
        unused = {
            "greedy": ("top_k", "top_p"),
            "temperature": ("top_k", "top_p"),
            "top_k": ("top_p",),
            "top_p": (),
        }[self.strategy]
        for knob in unused:
            if getattr(self, knob) is not None:
                raise ConfigError(
                    f"{knob} is set but strategy {self.strategy} does not use it; "
                    f"use strategy {knob} or leave {knob} out"
                )

    @property
    def is_greedy(self) -> bool:
        return self.strategy == "greedy" or self.temperature == 0

    def describe(self) -> str:
        """A short label for tables: `top_p (p=0.9, T=0.8)`."""
        if self.is_greedy:
            return "greedy"
        knobs = [f"k={self.top_k}"] if self.top_k is not None else []
        knobs += [f"p={self.top_p}"] if self.top_p is not None else []
        return f"{self.strategy} ({', '.join([*knobs, f'T={self.temperature:g}'])})"


def keep_top_k(logits: Tensor, k: int) -> Tensor:
    """Logits with everything below the k-th largest set to -inf (ties at the k-th kept)."""
    k = min(k, logits.size(-1))
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1)
    return logits.masked_fill(logits < kth, float("-inf"))


def keep_top_p(logits: Tensor, p: float) -> Tensor:
    """Logits outside the nucleus set to -inf: the most likely tokens, in order, until
    their probability reaches p (the token that crosses p is kept; the best always is)."""
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    before = torch.cumsum(probs, dim=-1) - probs  # probability of the better tokens
    drop_sorted = before >= p
    drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to vocabulary order
    return logits.masked_fill(drop, float("-inf"))


def next_token_distribution(logits: Tensor, sampling: Sampling) -> Tensor:
    """(..., V) logits -> (..., V) the probabilities the next token is drawn from."""
    if sampling.is_greedy:
        best = logits.argmax(dim=-1, keepdim=True)
        return torch.zeros_like(logits).scatter_(-1, best, 1.0)
    logits = logits / sampling.temperature
    if sampling.top_k is not None:
        logits = keep_top_k(logits, sampling.top_k)
    if sampling.top_p is not None:
        logits = keep_top_p(logits, sampling.top_p)
    return torch.softmax(logits, dim=-1)


def sample(probs: Tensor, generator: torch.Generator | None) -> Tensor:
    """(B, V) probabilities -> (B,) ids; the most likely id where the distribution is one-hot."""
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def entropy(probs: Tensor) -> Tensor:
    """Entropy in nats of each distribution over the last dimension (0·log 0 counts 0)."""
    return (-(probs * torch.log(probs.clamp_min(1e-30))).sum(dim=-1)).clamp_min(0.0)
