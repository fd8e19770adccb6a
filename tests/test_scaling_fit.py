"""Fitting L(N) = E + A·N^-α: recovery, constraints, bootstrap intervals, warnings, bad input."""

from __future__ import annotations

import time

import numpy as np
import pytest

from nanoforge.errors import DataError
from nanoforge.experiments.scaling import (
    ALPHA_MAX,
    bootstrap_alpha,
    fit_power_law,
    fit_warnings,
    prediction_band,
)

ALPHA, E, A = 0.35, 1.8, 200.0
SIZES = np.geomspace(1e5, 1e8, 6)  # losses from about 5.4 down to 2.1


def true_loss(n: np.ndarray) -> np.ndarray:
    return E + A * n**-ALPHA


def noisy_points(noise: float, seed: int, seeds_per_size: int = 3) -> tuple[np.ndarray, ...]:
    n = np.repeat(SIZES, seeds_per_size)
    rng = np.random.default_rng(seed)
    return n, true_loss(n) + rng.normal(0.0, noise, n.size)


# ---------------------------------------------------------------------------- fitting


def test_exact_points_give_back_alpha_e_and_a() -> None:
    fit = fit_power_law(SIZES, true_loss(SIZES))
    np.testing.assert_allclose([fit.alpha, fit.E, fit.A], [ALPHA, E, A], rtol=1e-6)
    assert fit.r2 == pytest.approx(1.0, abs=1e-12)
    assert fit.n_points == 6
    assert not fit.at_bound


def test_predict_reproduces_the_law_beyond_the_fitted_sizes() -> None:
    fit = fit_power_law(SIZES, true_loss(SIZES))
    far = np.array([1e3, 1e9, 1e12])
    np.testing.assert_allclose(fit.predict(far), true_loss(far), rtol=1e-6)


def test_noisy_points_with_several_seeds_per_size_give_alpha_close_to_the_truth() -> None:
    n, loss = noisy_points(noise=0.02, seed=1)
    fit = fit_power_law(n, loss)
    assert fit.alpha == pytest.approx(ALPHA, abs=0.03)
    assert abs(fit.E - E) < 0.1
    assert fit.r2 > 0.99
    assert fit.n_points == 18


def test_a_negative_unconstrained_floor_is_clamped_to_zero_and_a_refitted() -> None:
    n = np.geomspace(1e2, 1e6, 6)
    loss = -0.5 + 10.0 * n**-0.2  # exact, but with a floor below zero
    fit = fit_power_law(n, loss)
    assert fit.E == 0.0
    assert fit.A > 0
    # The pure power law through these points is not exact, but close.
    assert 0.9 < fit.r2 < 1.0


def test_a_pure_power_law_is_fitted_with_a_zero_floor() -> None:
    n = np.geomspace(1e4, 1e7, 5)
    fit = fit_power_law(n, 50.0 * n**-0.3)
    np.testing.assert_allclose([fit.alpha, fit.E, fit.A], [0.3, 0.0, 50.0], rtol=1e-6, atol=1e-9)


def test_a_cliff_between_the_first_two_sizes_drives_alpha_to_the_search_bound() -> None:
    fit = fit_power_law([1e5, 1e6, 1e7, 1e8], [5.0, 2.0, 2.0, 2.0])
    assert fit.at_bound
    assert fit.alpha == pytest.approx(ALPHA_MAX)


# ------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("n", "loss", "message"),
    [
        ([1e5, 1e5, 1e6, 1e6], [3.0, 3.1, 2.5, 2.6], "at least 3 distinct model sizes"),
        ([0.0, 1e5, 1e6], [4.0, 3.0, 2.5], "parameter counts must be finite and positive"),
        ([-1e4, 1e5, 1e6], [4.0, 3.0, 2.5], "parameter counts must be finite and positive"),
        ([1e4, 1e5, 1e6], [4.0, np.nan, 2.5], "losses must be finite and positive"),
        ([1e4, 1e5, 1e6], [4.0, np.inf, 2.5], "losses must be finite and positive"),
        ([1e4, 1e5, 1e6], [4.0, 3.0], "equal length"),
        ([1e4, 1e5, 1e6], [2.0, 2.5, 3.0], "losses do not fall with N"),
        ([1e4, 1e5, 1e6], [3.0, 3.0, 3.0], "losses do not fall with N"),
    ],
)
def test_bad_points_raise_a_data_error_naming_the_problem(
    n: list[float], loss: list[float], message: str
) -> None:
    with pytest.raises(DataError, match=message):
        fit_power_law(n, loss)


def test_bootstrap_rejects_the_same_bad_points_and_bad_settings() -> None:
    with pytest.raises(DataError, match="at least 3 distinct"):
        bootstrap_alpha([1e5, 1e6], [3.0, 2.0])
    with pytest.raises(ValueError, match="0 < level < 1"):
        bootstrap_alpha(SIZES, true_loss(SIZES), level=1.0)


# ------------------------------------------------------------------------- bootstrap


def test_the_95_percent_interval_covers_the_true_alpha_on_a_noisy_set() -> None:
    n, loss = noisy_points(noise=0.02, seed=1)
    ci = bootstrap_alpha(n, loss, n_boot=1000, seed=0)
    assert ci.lo < ALPHA < ci.hi
    assert ci.lo < fit_power_law(n, loss).alpha < ci.hi
    assert ci.n_samples == 1000 and ci.n_failed == 0 and ci.failed_share == 0.0


def test_the_interval_covers_the_true_alpha_for_most_noise_draws() -> None:
    covered = 0
    for noise_seed in range(20):
        n, loss = noisy_points(noise=0.03, seed=100 + noise_seed)
        ci = bootstrap_alpha(n, loss, n_boot=300, seed=noise_seed)
        covered += ci.lo <= ALPHA <= ci.hi
    assert covered >= 16


def test_the_interval_narrows_as_the_noise_shrinks() -> None:
    widths = []
    for noise in (0.05, 0.01, 0.002):
        ci = bootstrap_alpha(*noisy_points(noise=noise, seed=3), n_boot=500, seed=0)
        widths.append(ci.hi - ci.lo)
    assert widths[0] > widths[1] > widths[2]
    assert widths[2] < 0.01


def test_the_same_seed_gives_the_same_interval_and_another_seed_a_different_one() -> None:
    n, loss = noisy_points(noise=0.02, seed=1)
    first = bootstrap_alpha(n, loss, n_boot=200, seed=7)
    assert bootstrap_alpha(n, loss, n_boot=200, seed=7) == first
    assert bootstrap_alpha(n, loss, n_boot=200, seed=8) != first


def test_resamples_with_fewer_than_three_sizes_are_counted_as_failed() -> None:
    # One run per size: a resample keeps all three sizes with probability 3!/3^3 = 2/9.
    ci = bootstrap_alpha([1e5, 1e6, 1e7], [3.0, 2.5, 2.2], n_boot=2000, seed=0)
    assert ci.n_samples + ci.n_failed == 2000
    assert ci.failed_share == pytest.approx(7 / 9, abs=0.03)
    assert ci.failed_share == ci.n_failed / 2000


def test_a_thousand_resamples_of_ten_points_take_well_under_a_second() -> None:
    n = np.geomspace(1e5, 1e8, 10)
    loss = true_loss(n) + np.random.default_rng(0).normal(0.0, 0.02, n.size)
    start = time.perf_counter()
    bootstrap_alpha(n, loss, n_boot=1000, seed=0)
    assert time.perf_counter() - start < 1.0


def test_the_prediction_band_brackets_the_fit_and_the_true_curve() -> None:
    n, loss = noisy_points(noise=0.02, seed=1)
    grid = np.geomspace(1e5, 1e8, 7)
    band = prediction_band(n, loss, grid, n_boot=500, seed=0)
    assert band.lower.shape == band.upper.shape == (7,)
    np.testing.assert_array_equal(band.grid, grid)
    assert np.all(band.lower < band.upper)
    fitted = fit_power_law(n, loss).predict(grid)
    assert np.all((band.lower <= fitted) & (fitted <= band.upper))
    assert np.all((band.lower <= true_loss(grid)) & (true_loss(grid) <= band.upper))


def test_the_band_widens_when_extrapolating_past_the_largest_model() -> None:
    n, loss = noisy_points(noise=0.02, seed=1)
    band = prediction_band(n, loss, [1e8, 1e11], n_boot=500, seed=0)
    inside, beyond = band.upper - band.lower
    assert beyond > inside


def test_the_band_rejects_a_non_positive_grid() -> None:
    with pytest.raises(DataError, match="positive parameter counts"):
        prediction_band(SIZES, true_loss(SIZES), [0.0, 1e6], n_boot=10)


# -------------------------------------------------------------------------- warnings


def test_a_clean_fit_has_no_warnings() -> None:
    n, loss = noisy_points(noise=0.01, seed=2)
    assert fit_warnings(fit_power_law(n, loss), bootstrap_alpha(n, loss, n_boot=500)) == []


def test_a_nearly_flat_noisy_set_warns_about_the_fit_and_the_interval() -> None:
    n = np.geomspace(1e5, 1e8, 8)
    loss = 3.0 + 0.3 * n**-0.05 + np.random.default_rng(1).normal(0.0, 0.05, n.size)
    warnings = fit_warnings(fit_power_law(n, loss), bootstrap_alpha(n, loss, n_boot=500))
    assert any(w.startswith("poor fit: R² = ") for w in warnings)
    assert any(w.startswith("wide 95% interval for α") for w in warnings)


def test_alpha_at_the_search_bound_and_many_failed_resamples_are_warned_about() -> None:
    n, loss = [1e5, 1e6, 1e7, 1e8], [5.0, 2.0, 2.0, 2.0]
    warnings = fit_warnings(fit_power_law(n, loss), bootstrap_alpha(n, loss, n_boot=500))
    assert any("edge of the search range" in w for w in warnings)
    assert any("bootstrap resamples could not be fitted" in w for w in warnings)


def test_a_law_without_a_visible_floor_warns_that_e_is_not_measured() -> None:
    n = np.geomspace(1e3, 1e6, 6)
    loss = 8.0 * n**-0.05  # a pure power law: the best E is its bound, 0
    fit = fit_power_law(n, loss)
    assert abs(fit.E) < 1e-9 and fit.alpha == pytest.approx(0.05, rel=1e-3)
    warnings = fit_warnings(fit, bootstrap_alpha(n, loss, n_boot=200))
    assert any(w.startswith("E = 0: the losses show no floor") for w in warnings)
