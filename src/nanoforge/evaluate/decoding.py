"""Diversity and repetition of generated text, the figures behind the decoding table.

Each decoding strategy (greedy, temperature, top-k, top-p) is run on the same prompts,
and its outputs are summed up here: how varied they are (distinct-n, Li et al. 2016),
how much they repeat themselves (the share of repeated 4-grams, as in Holtzman et al.
2019), how often they fall into a loop, how long they are and how often they are valid
UTF-8. The functions take plain sequences of hashable items, token ids or words alike;
loop flags and UTF-8 validity come in precomputed, so nothing here needs the tokenizer
or the loop detector.

Empty input. A ratio with nothing to count (no n-grams, no words) is 0.0 rather than
NaN: a sample too short to have a 4-gram has, in fact, repeated none, and 0.0 keeps
the metrics file plain JSON.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import asdict, dataclass

# Words for the vocabulary check: runs of word characters, kept only when they are all
# letters. Numbers and identifiers (x2, snake_case) are not words a reader would call
# misspelt, so they are left out rather than counted either way.
_WORD = re.compile(r"\w+")


def ngrams(seq: Sequence[Hashable], n: int) -> list[tuple[Hashable, ...]]:
    """The n-grams of `seq` in order, overlapping: len(seq) - n + 1 of them (or none)."""
    if n < 1:
        raise ValueError(f"n must be at least 1 (got {n})")
    return [tuple(seq[i : i + n]) for i in range(len(seq) - n + 1)]


def distinct_n(sequences: Iterable[Sequence[Hashable]], n: int) -> float:
    """Distinct n-grams over all n-grams, pooled across `sequences` (n-grams never span
    two sequences); 0.0 when there are no n-grams."""
    seen: set[tuple[Hashable, ...]] = set()
    total = 0
    for seq in sequences:
        grams = ngrams(seq, n)
        seen.update(grams)
        total += len(grams)
    return len(seen) / total if total else 0.0


def _repeated_and_total(seq: Sequence[Hashable], n: int) -> tuple[int, int]:
    """How many n-grams of `seq` already occurred at an earlier position, and how many
    n-grams it has."""
    grams = ngrams(seq, n)
    return len(grams) - len(set(grams)), len(grams)


def repeated_ngram_fraction(seq: Sequence[Hashable], n: int = 4) -> float:
    """Share of the n-grams of one sequence that occurred earlier in it (overlaps count:
    "a a a a a" has two 4-grams, the second a repeat, so 0.5); 0.0 with no n-grams."""
    repeated, total = _repeated_and_total(seq, n)
    return repeated / total if total else 0.0


def mean_repeated_ngram_fraction(sequences: Iterable[Sequence[Hashable]], n: int = 4) -> float:
    """`repeated_ngram_fraction` over many sequences, weighting every n-gram equally:
    total repeated over total n-grams. (A plain mean over sequences would let a
    three-token output, which cannot repeat a 4-gram, count as much as a long loop.)"""
    counts = [_repeated_and_total(seq, n) for seq in sequences]
    total = sum(t for _, t in counts)
    return sum(r for r, _ in counts) / total if total else 0.0


@dataclass(frozen=True)
class DecodingStats:
    """Summary of `n` generated samples from one decoding strategy."""

    n: int
    mean_length: float  # items (tokens) per sample
    distinct_1: float
    distinct_2: float
    distinct_3: float
    repeated_4gram: float  # mean_repeated_ngram_fraction with n = 4
    loop_rate: float  # share of samples flagged as looping
    utf8_valid: float  # share of samples that decode as valid UTF-8

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def decoding_stats(
    sequences: Sequence[Sequence[Hashable]],
    *,
    valid_utf8: Sequence[bool],
    loops: Sequence[bool],
) -> DecodingStats:
    """The decoding-table row for `sequences`, given each sample's UTF-8 validity and
    loop flag (same order, same length)."""
    n = len(sequences)
    if n == 0:
        raise ValueError("no samples to summarise")
    if len(valid_utf8) != n or len(loops) != n:
        raise ValueError(
            f"need one flag per sample: {n} samples, "
            f"{len(valid_utf8)} UTF-8 flags, {len(loops)} loop flags"
        )
    return DecodingStats(
        n=n,
        mean_length=sum(len(seq) for seq in sequences) / n,
        distinct_1=distinct_n(sequences, 1),
        distinct_2=distinct_n(sequences, 2),
        distinct_3=distinct_n(sequences, 3),
        repeated_4gram=mean_repeated_ngram_fraction(sequences, 4),
        loop_rate=sum(loops) / n,
        utf8_valid=sum(valid_utf8) / n,
    )


# ------------------------------------------------------------- real words


def words(text: str) -> list[str]:
    """The words of `text`, lowercased: `\\w+` runs made only of letters (any script)."""
    return [w for w in _WORD.findall(text.lower()) if w.isalpha()]


def word_vocabulary(texts: Iterable[str]) -> set[str]:
    """Every word (as `words` finds them) in `texts`, e.g. the training corpus."""
    vocabulary: set[str] = set()
    for text in texts:
        vocabulary.update(words(text))
    return vocabulary


def word_in_vocabulary_share(text: str, vocabulary: set[str]) -> float:
    """Share of the words in `text`, counted with repeats, found in `vocabulary`: how much
    of a sample is real words rather than invented ones; 0.0 when it has no words."""
    found = words(text)
    return sum(w in vocabulary for w in found) / len(found) if found else 0.0
