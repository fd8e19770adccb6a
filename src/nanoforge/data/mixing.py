"""Replay: a training stream of domain batches with a share of general batches mixed in.

Finetuning on the domain alone makes a model forget the general corpus; replaying a
fraction of general batches is the cheapest remedy. `ReplayMix` looks like a
`TokenSplit` to the training loop: which corpus a batch comes from is a pure function
of (seed, step), so a resumed run reads exactly the same stream.
"""

from __future__ import annotations

import numpy as np

from nanoforge.data.memmap import CorpusMeta, TokenSplit
from nanoforge.errors import ConfigError, DataError


class ReplayMix:
    """Batches from `domain`, except a `replay` share of them (in expectation) from `general`."""

    def __init__(self, domain: TokenSplit, general: TokenSplit, replay: float) -> None:
        if not 0 <= replay < 1:
            raise ConfigError(f"replay must be >= 0 and < 1 (got {replay})")
        if domain.meta.tokenizer_hash != general.meta.tokenizer_hash:
            raise DataError(
                f"{domain.path} and {general.path} were encoded with different tokenizers; "
                "run `dvc repro encode_memmap`"
            )
        self.domain, self.general, self.replay = domain, general, replay
        self.meta: CorpusMeta = domain.meta

    def __len__(self) -> int:
        return len(self.domain)

    def identity(self) -> dict[str, object]:
        """What makes this stream itself (a saved training state resumes only the same one)."""
        return {
            "domain": self.domain.identity(),
            "general": self.general.identity(),
            "replay": self.replay,
        }

    def is_replay(self, step: int, seed: int) -> bool:
        """Whether batch `step` comes from the general corpus."""
        # Its own stream of draws (the trailing 1), independent of the windows' positions.
        return bool(np.random.default_rng([seed, step, 1]).random() < self.replay)

    def batch(
        self, step: int, batch_size: int, block_size: int, seed: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """`TokenSplit.batch` of the corpus this step draws from."""
        source = self.general if self.is_replay(step, seed) else self.domain
        return source.batch(step, batch_size, block_size, seed)
