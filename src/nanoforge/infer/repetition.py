"""Detecting that generated text has fallen into a repetition loop.

A small model decoding greedily (or at a low temperature) often ends in a loop: the
same span of tokens back to back until the length limit, "the the the ..." or a whole
sentence over and over. This module says when that has happened, over a finished
sequence (`find_loop`) or token by token during generation (`LoopDetector`), so the
generator can stop early and the evaluation can report a loop rate.

The rule. A stretch of the sequence has period p when every token in it equals the
token p places before it; it holds `copies = len // p` whole back-to-back copies of its
first p tokens. It is a loop when

    copies >= copies_needed(p) = max(min_repeats, ceil(min_tokens / p))

for some 1 <= p <= max_period. Both limits matter: `min_repeats` alone would call
"of the of the of the" (6 tokens) a loop, and `min_tokens` alone would call a single
long span said twice one. With the defaults (3 repeats, 12 tokens) a 1-token period
needs 12 copies, a 2-token period 6, a 4-token period or longer 3.

Which loop. The first loop is the one that is complete earliest: the first prefix of
the sequence that ends in a loop, which is where a generator watching the stream would
stop. Among the periods that complete at that token the smallest wins ("abab..." has
period 2, not 4; since a loop spans at least two periods, the smallest qualifying period
is also the stretch's smallest period). The reported loop is the whole stretch: `start`
is where it begins (extended back as far as the period holds, so after the prefix
"x y" the loop "y z w y z w ..." is found at the "y" of the prefix, a rotation of the
span), and `repeats` counts its whole copies up to where the period breaks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

MAX_PERIOD = 64
MIN_REPEATS = 3
MIN_TOKENS = 12


@dataclass(frozen=True)
class Loop:
    """`repeats` back-to-back copies of a `period`-token span, starting at index `start`."""

    start: int
    period: int
    repeats: int

    @property
    def end(self) -> int:
        """Index just after the last whole copy (a partial copy may follow)."""
        return self.start + self.period * self.repeats


def copies_needed(
    period: int, *, min_repeats: int = MIN_REPEATS, min_tokens: int = MIN_TOKENS
) -> int:
    """Whole copies of a `period`-token span that make a loop: at least `min_repeats`
    copies and at least `min_tokens` tokens in them."""
    return max(min_repeats, -(-min_tokens // period))  # -(-a // b) is ceil(a / b) on ints


def _check_rule(max_period: int, min_repeats: int, min_tokens: int) -> None:
    if max_period < 1:
        raise ValueError(f"max_period must be at least 1 (got {max_period})")
    # One copy is no repetition at all; two is the least that can be a loop.
    if min_repeats < 2:
        raise ValueError(f"min_repeats must be at least 2 (got {min_repeats})")
    if min_tokens < 1:
        raise ValueError(f"min_tokens must be at least 1 (got {min_tokens})")


# ----------------------------------------------------------------- whole sequence


def _run_lengths(matches: np.ndarray) -> np.ndarray:
    """For each position, how many positions up to and including it are True in a row."""
    index = np.arange(matches.size)
    last_miss = np.maximum.accumulate(np.where(matches, -1, index))
    return index - last_miss


def _first_completion(ids: np.ndarray, period: int, need: int) -> int | None:
    """First index at which `ids` ends in `need + period` tokens of period `period`."""
    runs = _run_lengths(ids[period:] == ids[:-period])
    hits = np.flatnonzero(runs >= need)
    return int(hits[0]) + period if hits.size else None


def find_loop(
    ids: Sequence[int],
    *,
    max_period: int = MAX_PERIOD,
    min_repeats: int = MIN_REPEATS,
    min_tokens: int = MIN_TOKENS,
) -> Loop | None:
    """The first loop in `ids` by the module's rule, or None. O(len(ids) * max_period)."""
    _check_rule(max_period, min_repeats, min_tokens)
    arr = np.asarray(ids, dtype=np.int64)
    first: tuple[int, int] | None = None  # (index where the loop completes, period)
    for period in range(1, min(max_period, arr.size - 1) + 1):
        need = (copies_needed(period, min_repeats=min_repeats, min_tokens=min_tokens) - 1) * period
        done = _first_completion(arr, period, need)
        # Strictly earlier only: on a tie the smaller period, seen first, stays.
        if done is not None and (first is None or done < first[0]):
            first = (done, period)
    if first is None:
        return None
    done, period = first
    return _whole_stretch(arr, done, period)


def _whole_stretch(arr: np.ndarray, done: int, period: int) -> Loop:
    """The maximal stretch of period `period` around index `done` (where a loop completes)."""
    matches = arr[period:] == arr[:-period]  # matches[j]: arr[j + period] == arr[j]
    before = np.flatnonzero(~matches[: done - period + 1])
    start = int(before[-1]) + 1 if before.size else 0
    after = np.flatnonzero(~matches[done - period :])
    stop = done + int(after[0]) if after.size else arr.size  # first index off the period
    return Loop(start=start, period=period, repeats=(stop - start) // period)


def loop_rate(
    sequences: Iterable[Sequence[int]],
    *,
    max_period: int = MAX_PERIOD,
    min_repeats: int = MIN_REPEATS,
    min_tokens: int = MIN_TOKENS,
) -> float:
    """Fraction of `sequences` that contain a loop; 0.0 when there are none."""
    found = [
        find_loop(ids, max_period=max_period, min_repeats=min_repeats, min_tokens=min_tokens)
        is not None
        for ids in sequences
    ]
    return sum(found) / len(found) if found else 0.0


# ---------------------------------------------------------------------- streaming


class LoopDetector:
    """`find_loop` one token at a time, in O(max_period) per token.

    It keeps, for every period p, run[p]: how many tokens in a row (ending at the last
    one) equal the token p places before them. The stream ends in `c` copies of a
    p-token span exactly when run[p] >= (c - 1) * p, so checking the rule is one
    comparison per period. Only the last `max_period` tokens are kept, in a ring.

    Once a loop is found `push` keeps returning True, and `loop` is that first loop
    (its `repeats` grow while the period holds). After the whole of a sequence is
    pushed, `loop` equals `find_loop` of it.
    """

    def __init__(
        self,
        *,
        max_period: int = MAX_PERIOD,
        min_repeats: int = MIN_REPEATS,
        min_tokens: int = MIN_TOKENS,
    ) -> None:
        _check_rule(max_period, min_repeats, min_tokens)
        self.max_period = max_period
        # need[p]: the run length at which period p makes a loop (need[0] is unused).
        self._need = [0] + [
            (copies_needed(p, min_repeats=min_repeats, min_tokens=min_tokens) - 1) * p
            for p in range(1, max_period + 1)
        ]
        self._ring: list[int] = [0] * max_period
        self._run = [0] * (max_period + 1)
        self._count = 0  # tokens pushed so far
        self._loop: Loop | None = None
        self._growing = False  # whether the found loop's period still holds

    @property
    def loop(self) -> Loop | None:
        """The first loop in the stream so far, or None."""
        return self._loop

    def push(self, token_id: int) -> bool:
        """Add the next token; True from the token that completes the first loop onwards."""
        i = self._count
        self._update_runs(token_id, i)
        self._ring[i % self.max_period] = token_id  # after the reads: p = max_period reads it
        self._count += 1
        if self._loop is None:
            self._loop = self._completed(i)
            self._growing = self._loop is not None
        elif self._growing:
            self._grow(i)
        return self._loop is not None

    def _update_runs(self, token_id: int, i: int) -> None:
        for p in range(1, min(self.max_period, i) + 1):
            same = self._ring[(i - p) % self.max_period] == token_id
            self._run[p] = self._run[p] + 1 if same else 0

    def _completed(self, i: int) -> Loop | None:
        """The loop of smallest period that the stream ends in at index `i`, if any."""
        for p in range(1, min(self.max_period, i) + 1):
            run = self._run[p]
            if run >= self._need[p]:
                return Loop(start=i - run - p + 1, period=p, repeats=(run + p) // p)
        return None

    def _grow(self, i: int) -> None:
        loop = self._loop
        assert loop is not None
        if self._run[loop.period] == 0:
            self._growing = False  # the period broke: the loop is final
            return
        repeats = (i + 1 - loop.start) // loop.period
        self._loop = Loop(start=loop.start, period=loop.period, repeats=repeats)
