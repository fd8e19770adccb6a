"""Diversity, repetition and real-word metrics of generated samples, on hand-counted cases."""

from __future__ import annotations

import pytest

from nanoforge.evaluate.decoding import (
    DecodingStats,
    decoding_stats,
    distinct_n,
    mean_repeated_ngram_fraction,
    ngrams,
    repeated_ngram_fraction,
    word_in_vocabulary_share,
    word_vocabulary,
    words,
)

# Three samples, counted by hand below:
#   unigrams 5 + 3 + 6 = 14, distinct {1, 2, 3, 4, 5}
#   bigrams  4 + 2 + 5 = 11, distinct (1,2) (2,3) (3,1) (2,4) (5,5)
#   trigrams 3 + 1 + 4 = 8,  distinct (1,2,3) (2,3,1) (3,1,2) (1,2,4) (5,5,5)
#   4-grams  2 + 0 + 3 = 5,  of which the 2nd and 3rd (5,5,5,5) are repeats
SAMPLES = [[1, 2, 3, 1, 2], [1, 2, 4], [5, 5, 5, 5, 5, 5]]


# ---------------------------------------------------------------------- n-grams


def test_ngrams_are_the_overlapping_windows_in_order() -> None:
    assert ngrams([1, 2, 3, 4], 2) == [(1, 2), (2, 3), (3, 4)]
    assert ngrams([1, 2], 3) == []
    with pytest.raises(ValueError):
        ngrams([1, 2], 0)


def test_distinct_n_is_distinct_over_total_ngrams_pooled_across_samples() -> None:
    assert distinct_n(SAMPLES, 1) == 5 / 14
    assert distinct_n(SAMPLES, 2) == 5 / 11
    assert distinct_n(SAMPLES, 3) == 5 / 8


def test_distinct_n_counts_an_ngram_shared_by_two_samples_once() -> None:
    assert distinct_n([[1, 2], [1, 2]], 2) == 0.5
    assert distinct_n([[1, 2, 3], [4, 5, 6]], 2) == 1.0


def test_distinct_n_never_joins_the_end_of_one_sample_to_the_next() -> None:
    assert distinct_n([[1], [2]], 2) == 0.0  # no bigram at all, not (1, 2)
    assert distinct_n([], 1) == 0.0


def test_distinct_n_works_on_words() -> None:
    assert distinct_n([["the", "cat"], ["the", "dog"]], 1) == 3 / 4


# ------------------------------------------------------------------- repetition


def test_repeated_ngram_fraction_is_the_share_of_ngrams_seen_earlier_in_the_sample() -> None:
    # 4-grams 1234 2341 3412 4123 1234: the last one is a repeat.
    assert repeated_ngram_fraction([1, 2, 3, 4, 1, 2, 3, 4]) == 1 / 5
    assert repeated_ngram_fraction([1, 2, 1, 1], n=1) == 2 / 4
    assert repeated_ngram_fraction(list(range(10))) == 0.0


def test_overlapping_occurrences_count_as_repeats() -> None:
    assert repeated_ngram_fraction([7, 7, 7, 7, 7]) == 1 / 2
    assert repeated_ngram_fraction([7] * 6) == 2 / 3


def test_a_sample_shorter_than_n_has_no_repetition() -> None:
    assert repeated_ngram_fraction([1, 1, 1]) == 0.0


def test_the_mean_over_samples_weights_every_ngram_equally() -> None:
    samples = [[7] * 5, [1, 2, 3, 4, 1, 2, 3, 4], [1, 2]]  # 1 of 2, 1 of 5, 0 of 0
    assert mean_repeated_ngram_fraction(samples) == 2 / 7
    assert mean_repeated_ngram_fraction(SAMPLES) == 2 / 5
    assert mean_repeated_ngram_fraction([]) == 0.0


# ------------------------------------------------------------------------ stats


def test_decoding_stats_summarise_the_samples_with_their_flags() -> None:
    stats = decoding_stats(SAMPLES, valid_utf8=[True, True, False], loops=[False, False, True])
    assert stats == DecodingStats(
        n=3,
        mean_length=14 / 3,
        distinct_1=5 / 14,
        distinct_2=5 / 11,
        distinct_3=5 / 8,
        repeated_4gram=2 / 5,
        loop_rate=1 / 3,
        utf8_valid=2 / 3,
    )


def test_decoding_stats_to_dict_gives_every_field_by_name() -> None:
    stats = decoding_stats([[1, 2, 3]], valid_utf8=[True], loops=[False])
    assert stats.to_dict() == {
        "n": 1,
        "mean_length": 3.0,
        "distinct_1": 1.0,
        "distinct_2": 1.0,
        "distinct_3": 1.0,
        "repeated_4gram": 0.0,
        "loop_rate": 0.0,
        "utf8_valid": 1.0,
    }


def test_decoding_stats_need_samples_and_one_flag_per_sample() -> None:
    with pytest.raises(ValueError):
        decoding_stats([], valid_utf8=[], loops=[])
    with pytest.raises(ValueError):
        decoding_stats(SAMPLES, valid_utf8=[True, True], loops=[False, False, True])
    with pytest.raises(ValueError):
        decoding_stats(SAMPLES, valid_utf8=[True, True, True], loops=[False])


# ------------------------------------------------------------------- real words


def test_words_are_lowercased_letter_runs_and_numbers_and_identifiers_are_dropped() -> None:
    text = "The cat's 3 hats_and x2 Café, THE end."
    assert words(text) == ["the", "cat", "s", "café", "the", "end"]


def test_word_vocabulary_collects_every_word_of_the_texts() -> None:
    vocabulary = word_vocabulary(["The cat sat.", "A dog, 2 cats"])
    assert vocabulary == {"the", "cat", "sat", "a", "dog", "cats"}
    assert word_vocabulary([]) == set()


def test_word_in_vocabulary_share_counts_every_occurrence() -> None:
    vocabulary = {"the", "cat", "sat"}
    assert word_in_vocabulary_share("the cat sat on the mat", vocabulary) == 4 / 6
    assert word_in_vocabulary_share("THE Cat", vocabulary) == 1.0
    assert word_in_vocabulary_share("the 42 cat", vocabulary) == 1.0  # 42 is not a word


def test_a_text_without_words_has_a_share_of_zero() -> None:
    assert word_in_vocabulary_share("123 !! __", {"the"}) == 0.0
    assert word_in_vocabulary_share("", {"the"}) == 0.0
