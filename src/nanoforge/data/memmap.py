"""Token arrays on disk: flat `uint16`/`uint32` files, written streaming, read with memmap.

Layout of one corpus (`data/tokens/general/`): `train.bin`, `val.bin` (token ids, every
document followed by `<|endoftext|>`) and `meta.json` (dtype, vocabulary size, the
tokenizer's hash, and per split the tokens, documents and bytes of text encoded).

Reading never loads an array: batches are cut from a `numpy.memmap` that is opened
for each batch and dropped after it. Holding one memmap open across a long training
run lets the pages it touched pile up in the process (memory creeps); re-opening
costs microseconds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nanoforge.atomic import atomic_path, write_json
from nanoforge.errors import DataError

META = "meta.json"
SPLITS = ("train", "val")


def token_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned dtype that holds every id."""
    return np.dtype(np.uint16) if vocab_size <= 2**16 else np.dtype(np.uint32)


def write_token_file(path: str | Path, chunks: Iterable[Sequence[int]], dtype: np.dtype) -> int:
    """Append each chunk of ids to a flat binary file, atomically; return the token count.

    Memory stays flat whatever the corpus size: one chunk is in memory at a time.
    """
    count = 0
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        for ids in chunks:
            array = np.asarray(ids, dtype=dtype)  # an id too large for dtype raises here
            array.tofile(f)
            count += array.size
    return count


@dataclass(frozen=True)
class SplitMeta:
    """What `meta.json` says of one split."""

    tokens: int
    documents: int
    text_bytes: int


@dataclass(frozen=True)
class CorpusMeta:
    """`meta.json` of a corpus folder."""

    dtype: str
    vocab_size: int
    tokenizer_hash: str
    eot_id: int
    splits: dict[str, SplitMeta]

    def save(self, folder: str | Path) -> None:
        splits = {name: vars(split) for name, split in self.splits.items()}
        write_json(Path(folder) / META, {**vars(self), "splits": splits})

    @classmethod
    def load(cls, folder: str | Path) -> CorpusMeta:
        path = Path(folder) / META
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            splits = {name: SplitMeta(**split) for name, split in data.pop("splits").items()}
            return cls(**data, splits=splits)
        except FileNotFoundError:
            raise DataError(f"{path}: not found; run `dvc repro encode_memmap`") from None
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            raise DataError(
                f"{path}: not a token-array meta file ({err}); run `dvc repro encode_memmap`"
            ) from None


class TokenSplit:
    """One split of a corpus: random training batches and the fixed evaluation order."""

    def __init__(self, folder: str | Path, split: str, tokenizer_hash: str) -> None:
        folder = Path(folder)
        meta = CorpusMeta.load(folder)
        if meta.tokenizer_hash != tokenizer_hash:
            raise DataError(
                f"{folder / META}: the arrays were encoded with tokenizer {meta.tokenizer_hash}, "
                f"but the tokenizer in use is {tokenizer_hash}; run `dvc repro encode_memmap`"
            )
        if split not in meta.splits:
            raise DataError(f"{folder / META}: no split {split!r} (has {', '.join(meta.splits)})")
        self.path = folder / f"{split}.bin"
        self.dtype = np.dtype(meta.dtype)
        self.meta = meta
        self.tokens = meta.splits[split].tokens
        size = self.path.stat().st_size if self.path.exists() else -1
        if size != self.tokens * self.dtype.itemsize:
            raise DataError(
                f"{self.path}: {size} bytes, but {META} says {self.tokens} {meta.dtype} tokens "
                f"({self.tokens * self.dtype.itemsize} bytes); run `dvc repro encode_memmap`"
            )

    def __len__(self) -> int:
        return self.tokens

    def identity(self) -> dict[str, object]:
        """What makes this split itself (a saved training state resumes only the same one)."""
        return {"tokens": self.tokens}

    def counts(self) -> np.ndarray:
        """(vocab_size,) how often each token id occurs in the split."""
        return np.bincount(self._open(), minlength=self.meta.vocab_size)

    def _open(self) -> np.memmap:
        return np.memmap(self.path, dtype=self.dtype, mode="r")

    def _check_block(self, block_size: int) -> None:
        if self.tokens < block_size + 1:
            raise DataError(
                f"{self.path}: {self.tokens} tokens, fewer than block_size + 1 = {block_size + 1}; "
                f"use a smaller block_size or a larger corpus"
            )

    def batch(
        self, step: int, batch_size: int, block_size: int, seed: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Random windows (x, y = x shifted by one), int64 (batch, block), from (seed, step).

        The same (seed, step) always gives the same batch, so a resumed run continues
        exactly; cost does not depend on the corpus size.
        """
        self._check_block(block_size)
        rng = np.random.default_rng([seed, step])
        starts = rng.integers(0, self.tokens - block_size, size=batch_size)
        return self._windows(starts, block_size)

    def eval_batches(
        self, batch_size: int, block_size: int, max_batches: int | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Consecutive, non-overlapping windows from the start, in fixed order.

        Together they predict every token of the split but the first (and a tail
        shorter than a block), each exactly once.
        """
        self._check_block(block_size)
        starts = np.arange(0, self.tokens - block_size, block_size)
        for n, first in enumerate(range(0, len(starts), batch_size)):
            if max_batches is not None and n >= max_batches:
                return
            yield self._windows(starts[first : first + batch_size], block_size)

    def _windows(self, starts: np.ndarray, block_size: int) -> tuple[np.ndarray, np.ndarray]:
        data = self._open()
        rows = np.stack([data[s : s + block_size + 1] for s in starts]).astype(np.int64)
        return rows[:, :-1], rows[:, 1:]
