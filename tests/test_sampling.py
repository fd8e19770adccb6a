"""The decoding strategies on crafted logits: greedy, temperature, top-k, top-p."""

from __future__ import annotations

import math

import pytest
import torch

from nanoforge.errors import ConfigError
from nanoforge.infer.sampling import (
    Sampling,
    entropy,
    keep_top_k,
    keep_top_p,
    next_token_distribution,
    sample,
)

# Probabilities 0.4, 0.3, 0.15, 0.1, 0.05 in a shuffled order of ids.
PROBS = torch.tensor([0.1, 0.4, 0.05, 0.3, 0.15])
LOGITS = torch.log(PROBS).unsqueeze(0)  # (1, 5)


def draws(sampling: Sampling, n: int = 4000, seed: int = 0) -> torch.Tensor:
    probs = next_token_distribution(LOGITS.expand(n, -1), sampling)
    return sample(probs, torch.Generator().manual_seed(seed))


def test_greedy_puts_all_probability_on_the_best_token() -> None:
    probs = next_token_distribution(LOGITS, Sampling("greedy"))
    assert probs.tolist() == [[0.0, 1.0, 0.0, 0.0, 0.0]]


def test_temperature_zero_is_greedy_whatever_the_strategy() -> None:
    for sampling in (Sampling("temperature", 0.0), Sampling("top_p", 0.0, top_p=0.9)):
        assert sampling.is_greedy
        assert set(draws(sampling).tolist()) == {1}


def test_temperature_one_samples_the_model_distribution() -> None:
    counts = torch.bincount(draws(Sampling("temperature", 1.0), n=20000), minlength=5)
    torch.testing.assert_close(counts / 20000, PROBS, atol=0.015, rtol=0)


def test_temperature_divides_the_logits() -> None:
    probs = next_token_distribution(LOGITS, Sampling("temperature", 2.0))
    torch.testing.assert_close(probs[0], torch.softmax(LOGITS[0] / 2, dim=-1))
    assert entropy(probs) > entropy(PROBS.unsqueeze(0))


def test_top_k_never_samples_outside_the_k_best() -> None:
    ids = draws(Sampling("top_k", 5.0, top_k=2))  # a high temperature flattens the two
    assert set(ids.tolist()) == {1, 3}


def test_top_k_renormalises_the_kept_probabilities() -> None:
    probs = next_token_distribution(LOGITS, Sampling("top_k", 1.0, top_k=3))
    torch.testing.assert_close(probs[0], torch.tensor([0, 0.4, 0, 0.3, 0.15]) / 0.85)


def test_top_p_keeps_the_smallest_set_that_reaches_p() -> None:
    # 0.4 + 0.3 = 0.7 < 0.75, so the 0.15 token is needed; 0.1 and 0.05 are outside.
    kept = keep_top_p(LOGITS, 0.75)
    assert torch.isfinite(kept[0]).tolist() == [False, True, False, True, True]
    assert set(draws(Sampling("top_p", 1.0, top_p=0.75)).tolist()) == {1, 3, 4}


def test_top_p_always_keeps_the_best_token() -> None:
    assert torch.isfinite(keep_top_p(LOGITS, 0.01)[0]).tolist() == [False, True] + [False] * 3


def test_top_p_exactly_at_a_boundary_does_not_take_the_next_token() -> None:
    kept = keep_top_p(torch.log(torch.tensor([[0.5, 0.25, 0.25]])), 0.5)
    assert torch.isfinite(kept[0]).tolist() == [True, False, False]


def test_top_k_keeps_ties_at_the_kth_value() -> None:
    kept = keep_top_k(torch.tensor([[1.0, 3.0, 2.0, 2.0]]), 2)
    assert torch.isfinite(kept[0]).tolist() == [False, True, True, True]


def test_top_p_with_top_k_applies_both() -> None:
    probs = next_token_distribution(LOGITS, Sampling("top_p", 1.0, top_k=2, top_p=0.99))
    assert (probs[0] > 0).tolist() == [False, True, False, True, False]


def test_blocked_tokens_at_minus_infinity_are_never_sampled() -> None:
    logits = LOGITS.clone()
    logits[0, 1] = -math.inf
    ids = sample(
        next_token_distribution(logits.expand(2000, -1), Sampling("temperature", 5.0)),
        torch.Generator().manual_seed(0),
    )
    assert 1 not in ids.tolist()
    assert next_token_distribution(logits, Sampling("greedy")).argmax().item() == 3


def test_the_same_seed_draws_the_same_tokens() -> None:
    sampling = Sampling("temperature", 1.0)
    assert torch.equal(draws(sampling, seed=3), draws(sampling, seed=3))
    assert not torch.equal(draws(sampling, seed=3), draws(sampling, seed=4))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strategy": "beam"}, "strategy must be one of greedy"),
        ({"temperature": -1.0}, "temperature must be >= 0"),
        ({"strategy": "top_k"}, "strategy top_k needs a value for top_k"),
        ({"strategy": "top_p", "top_p": 1.5}, r"top_p must be in \(0, 1\]"),
        ({"strategy": "top_k", "top_k": 0}, "top_k must be at least 1"),
        ({"strategy": "temperature", "top_k": 5}, "top_k is set but strategy temperature"),
        ({"strategy": "greedy", "top_p": 0.9}, "top_p is set but strategy greedy"),
    ],
)
def test_bad_settings_fail_with_one_clear_line(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Sampling(**kwargs)


def test_describe_names_the_strategy_and_its_knobs() -> None:
    assert Sampling("greedy").describe() == "greedy"
    assert Sampling("top_p", 0.8, top_p=0.9).describe() == "top_p (p=0.9, T=0.8)"
    assert Sampling("top_k", 1.0, top_k=40).describe() == "top_k (k=40, T=1)"
