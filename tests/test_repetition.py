"""Repetition-loop detection: the rule, which loop is reported, and the streaming form."""

from __future__ import annotations

import random

import pytest

from nanoforge.infer.repetition import (
    Loop,
    LoopDetector,
    copies_needed,
    find_loop,
    loop_rate,
)

PREFIX = [90, 91, 92, 93, 94, 95, 96]  # no repetition in it, and no token shared with spans
SPAN5 = [1, 2, 3, 4, 5]


def reference_loop(
    ids: list[int], *, max_period: int = 64, min_repeats: int = 3, min_tokens: int = 12
) -> tuple[int, Loop] | None:
    """The rule written out naively: the first prefix whose tail is `copies_needed` copies
    of its last `p` tokens (smallest p), extended both ways. Returns (index, loop)."""
    for end in range(1, len(ids) + 1):
        for p in range(1, max_period + 1):
            copies = copies_needed(p, min_repeats=min_repeats, min_tokens=min_tokens)
            if copies * p > end or ids[end - copies * p : end] != ids[end - p : end] * copies:
                continue
            start, stop = end - copies * p, end
            while start > 0 and ids[start - 1] == ids[start - 1 + p]:
                start -= 1
            while stop < len(ids) and ids[stop] == ids[stop - p]:
                stop += 1
            return end - 1, Loop(start=start, period=p, repeats=(stop - start) // p)
    return None


def pushes(ids: list[int], **rule: int) -> tuple[list[bool], LoopDetector]:
    detector = LoopDetector(**rule)
    return [detector.push(t) for t in ids], detector


# ----------------------------------------------------------------------- the rule


def test_copies_needed_is_the_larger_of_min_repeats_and_enough_copies_for_min_tokens() -> None:
    assert [copies_needed(p) for p in (1, 2, 3, 4, 5, 12, 64)] == [12, 6, 4, 3, 3, 3, 3]
    assert copies_needed(5, min_repeats=2, min_tokens=12) == 3  # 2 copies are only 10 tokens
    assert copies_needed(7, min_repeats=2, min_tokens=6) == 2


def test_a_sequence_without_repetition_has_no_loop() -> None:
    assert find_loop(list(range(200))) is None
    assert find_loop([]) is None
    assert find_loop([7]) is None


def test_a_run_of_one_token_is_a_loop_of_period_one_once_it_is_min_tokens_long() -> None:
    assert find_loop(PREFIX + [4] * 11) is None
    assert find_loop(PREFIX + [4] * 12) == Loop(start=7, period=1, repeats=12)
    assert find_loop(PREFIX + [4] * 30 + [5]) == Loop(start=7, period=1, repeats=30)


def test_a_span_repeated_after_a_prefix_starts_at_the_end_of_the_prefix() -> None:
    loop = find_loop(PREFIX + SPAN5 * 4 + [77, 78])
    assert loop == Loop(start=len(PREFIX), period=5, repeats=4)
    assert loop.end == len(PREFIX) + 20


def test_a_partial_copy_after_the_last_whole_one_does_not_count_as_a_repeat() -> None:
    assert find_loop(SPAN5 * 4 + [1, 2, 3]) == Loop(start=0, period=5, repeats=4)


def test_the_start_is_extended_back_into_the_prefix_as_far_as_the_period_holds() -> None:
    # The prefix ends in 5, as the span does: the stretch of period 5 begins one token
    # earlier, and the loop is the rotation (5, 1, 2, 3, 4).
    ids = [90, 91, 5] + SPAN5 * 3
    assert find_loop(ids) == Loop(start=2, period=5, repeats=3)


def test_the_smallest_period_is_reported() -> None:
    assert find_loop([1, 2] * 8) == Loop(start=0, period=2, repeats=8)
    assert find_loop([1, 2, 1, 3] * 3) == Loop(start=0, period=4, repeats=3)


def test_below_either_threshold_there_is_no_loop() -> None:
    assert find_loop(PREFIX + SPAN5 * 2 + SPAN5[:4]) is None  # 14 tokens, 2 copies
    assert find_loop(PREFIX + [1, 2] * 5 + [1]) is None  # 5 copies, 11 tokens
    assert find_loop(PREFIX + [1, 2] * 6) == Loop(start=7, period=2, repeats=6)
    assert find_loop(SPAN5 * 2, min_repeats=2, min_tokens=10) == Loop(0, 5, 2)


def test_periods_above_max_period_are_not_looked_for() -> None:
    span = list(range(100, 110))
    assert find_loop(span * 3, max_period=9) is None
    assert find_loop(span * 3, max_period=10) == Loop(start=0, period=10, repeats=3)


def test_the_first_loop_to_complete_is_reported_not_a_later_or_longer_one() -> None:
    ids = [8] * 12 + PREFIX + SPAN5 * 10
    assert find_loop(ids) == Loop(start=0, period=1, repeats=12)
    # The period-13 stretch starts first, but the run of twelve 3s inside completes earlier.
    assert find_loop(([1] + [3] * 12) * 3) == Loop(start=1, period=1, repeats=12)


def test_an_impossible_rule_is_refused() -> None:
    for rule in ({"max_period": 0}, {"min_repeats": 1}, {"min_tokens": 0}):
        with pytest.raises(ValueError):
            find_loop([1, 2, 3], **rule)
        with pytest.raises(ValueError):
            LoopDetector(**rule)


def test_loop_rate_is_the_fraction_of_sequences_with_a_loop() -> None:
    sequences = [PREFIX, PREFIX + [4] * 12, SPAN5 * 3, list(range(50))]
    assert loop_rate(sequences) == 0.5
    assert loop_rate(sequences, min_tokens=13) == 0.25  # 12 fours too few; 15 enough
    assert loop_rate([]) == 0.0


# ---------------------------------------------------------------------- streaming


def test_the_detector_flips_to_true_at_the_token_that_completes_the_loop() -> None:
    ids = PREFIX + SPAN5 * 4
    flags, detector = pushes(ids)
    completes = len(PREFIX) + 3 * 5 - 1  # the last token of the third copy
    assert flags == [i >= completes for i in range(len(ids))]
    assert detector.loop == Loop(start=len(PREFIX), period=5, repeats=4)


def test_the_detector_reports_the_loop_as_it_stands_and_stays_true_after_it_breaks() -> None:
    detector = LoopDetector()
    for t in [4] * 12:
        detector.push(t)
    assert detector.loop == Loop(start=0, period=1, repeats=12)
    detector.push(4)
    assert detector.loop == Loop(start=0, period=1, repeats=13)
    assert detector.push(5) is True
    for t in [4] * 5:
        detector.push(t)
    assert detector.loop == Loop(start=0, period=1, repeats=13)


def test_the_detector_has_no_loop_on_a_sequence_without_repetition() -> None:
    flags, detector = pushes(list(range(300)))
    assert not any(flags)
    assert detector.loop is None


@pytest.mark.parametrize(
    "rule",
    [
        {"max_period": 64, "min_repeats": 3, "min_tokens": 12},
        {"max_period": 8, "min_repeats": 2, "min_tokens": 6},
        {"max_period": 3, "min_repeats": 5, "min_tokens": 1},
    ],
)
def test_detector_find_loop_and_the_naive_rule_agree_on_random_sequences(
    rule: dict[str, int],
) -> None:
    rng = random.Random(1234)
    found = 0
    for _ in range(300):
        ids = [rng.randrange(3) for _ in range(rng.randrange(0, 120))]
        if rng.random() < 0.3:  # plant a loop somewhere
            span = [rng.randrange(3) for _ in range(rng.randrange(1, 9))]
            at = rng.randrange(len(ids) + 1)
            ids[at:at] = span * rng.randrange(2, 8)
        expected = reference_loop(ids, **rule)
        flags, detector = pushes(ids, **rule)
        if expected is None:
            assert find_loop(ids, **rule) is None
            assert not any(flags)
            assert detector.loop is None
        else:
            completes, loop = expected
            found += 1
            assert find_loop(ids, **rule) == loop
            assert detector.loop == loop
            assert flags == [i >= completes for i in range(len(ids))]
    assert 30 < found < 270  # both outcomes were exercised


def test_find_loop_handles_a_long_generation_quickly() -> None:
    rng = random.Random(7)
    ids = [rng.randrange(50_000) for _ in range(1_900)] + SPAN5 * 20
    assert find_loop(ids) == Loop(start=1_900, period=5, repeats=20)
