"""Fit the saturating power law L(N) = E + A·N^-α to scaling runs, with bootstrap intervals.

N is a model's non-embedding parameter count and L its final validation loss; a size may
appear several times (one point per seed). The fit is done in pure numpy:

- for a fixed α the model is linear in (E, A), so E and A have a closed-form least-squares
  solution, and the fit reduces to a 1-D search over α: a log-spaced grid on
  [ALPHA_MIN, ALPHA_MAX], then golden-section refinement between the best grid point's
  neighbours;
- A > 0 (a loss that falls with N) and E >= 0 (cross-entropy losses are positive, so their
  floor is too). When the unconstrained optimum breaks E >= 0, E is clamped to 0 and A is
  refitted, which is the exact constrained optimum of this two-parameter problem. Points
  that no A > 0 fits (losses that do not fall with N) are a `DataError`.

The bootstrap resamples runs with replacement. A resample is the same points with integer
weights (how often each was drawn), so all resamples are fitted at once as weighted least
squares, array-wise: 1000 resamples of ten points take under a tenth of a second.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nanoforge.errors import DataError

ALPHA_MIN, ALPHA_MAX = 1e-3, 3.0
GRID_POINTS = 121  # neighbours 7% apart: the refinement starts inside the right valley
GOLDEN_STEPS = 60  # shrinks the bracket by 0.618^60 ~ 3e-13
MIN_SIZES = 3  # two sizes fit any α exactly: the law needs a third to be tested at all

# fit_warnings thresholds, see its docstring.
MIN_R2 = 0.9
MAX_CI_WIDTH = 0.5
MAX_FAILED_SHARE = 0.1

Floats = NDArray[np.float64]


@dataclass(frozen=True)
class PowerLawFit:
    """L(N) = E + A·N^-α fitted by least squares on L; `at_bound` says α hit the search edge."""

    alpha: float
    E: float
    A: float
    r2: float
    n_points: int
    at_bound: bool

    def predict(self, n: ArrayLike) -> Floats:
        """The fitted loss at parameter counts `n`."""
        return self.E + self.A * np.asarray(n, dtype=np.float64) ** -self.alpha


@dataclass(frozen=True)
class BootstrapCI:
    """Percentile interval [lo, hi] for α at `level`, from `n_samples` fitted resamples.

    `n_failed` resamples could not be fitted (fewer than MIN_SIZES distinct sizes drawn, or
    no falling power law through them); `failed_share` is their share of all resamples.
    """

    lo: float
    hi: float
    level: float
    n_samples: int
    n_failed: int
    failed_share: float


@dataclass(frozen=True, eq=False)
class PredictionBand:
    """Pointwise percentile band of the bootstrapped curves over `grid` (for the plot)."""

    grid: Floats
    lower: Floats
    upper: Floats


@dataclass(frozen=True, eq=False)
class _Solution:
    """Per-row best (E, A) for given α's; `a` is in units of (N / N0)^-α."""

    rss: Floats
    e: Floats
    a: Floats


@dataclass(frozen=True, eq=False)
class _Resamples:
    """The successful bootstrap fits (a in scaled units) and how many resamples failed."""

    alpha: Floats
    e: Floats
    a: Floats
    log_n0: float
    n_failed: int


def fit_power_law(n: ArrayLike, loss: ArrayLike) -> PowerLawFit:
    """Least-squares fit of L = E + A·N^-α with A > 0, E >= 0 and α in [ALPHA_MIN, ALPHA_MAX]."""
    n_arr, loss_arr = _check_points(n, loss)
    log_n0 = float(np.log(n_arr).mean())
    alpha, sol = _fit_rows(np.log(n_arr) - log_n0, loss_arr, np.ones((1, n_arr.size)))
    if not sol.a[0] > 0:
        raise DataError("losses do not fall with N: no L = E + A·N^-α with A > 0 fits them")
    a_hat, al = float(sol.a[0]), float(alpha[0])
    total = float(((loss_arr - loss_arr.mean()) ** 2).sum())
    return PowerLawFit(
        alpha=al,
        E=float(sol.e[0]),
        A=a_hat * float(np.exp(al * log_n0)),  # undo the N / N0 scaling
        r2=1.0 - float(sol.rss[0]) / total,
        n_points=int(n_arr.size),
        at_bound=_at_bound(al),
    )


def bootstrap_alpha(
    n: ArrayLike, loss: ArrayLike, *, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> BootstrapCI:
    """Percentile bootstrap interval for α: resample runs with replacement, refit each time."""
    res = _resample_fits(n, loss, n_boot=n_boot, seed=seed, level=level)
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(res.alpha, [tail, 1.0 - tail])
    return BootstrapCI(
        lo=float(lo),
        hi=float(hi),
        level=level,
        n_samples=int(res.alpha.size),
        n_failed=res.n_failed,
        failed_share=res.n_failed / n_boot,
    )


def prediction_band(
    n: ArrayLike,
    loss: ArrayLike,
    grid: ArrayLike,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> PredictionBand:
    """Pointwise `level` band of the fitted curve over `grid`.

    Uses the same resamples as `bootstrap_alpha` with the same seed, so the band and the α
    interval describe one bootstrap.
    """
    grid_arr = np.asarray(grid, dtype=np.float64)
    if grid_arr.ndim != 1 or not np.all(np.isfinite(grid_arr) & (grid_arr > 0)):
        raise DataError("the prediction grid must be a 1-D array of positive parameter counts")
    res = _resample_fits(n, loss, n_boot=n_boot, seed=seed, level=level)
    x = np.exp(-res.alpha[:, None] * (np.log(grid_arr) - res.log_n0))
    curves = res.e[:, None] + res.a[:, None] * x
    tail = (1.0 - level) / 2.0
    lower, upper = np.quantile(curves, [tail, 1.0 - tail], axis=0)
    return PredictionBand(grid=grid_arr, lower=lower, upper=upper)


def fit_warnings(fit: PowerLawFit, ci: BootstrapCI) -> list[str]:
    """Plain-language warnings that the fitted law should not be trusted; [] when none apply.

    - R² below MIN_R2 (0.9): the losses do not follow one power law;
    - α at a search bound: the sizes do not pin α down (too narrow a range, or a cliff);
    - the α interval is wider than α itself (not even its size is known) or wider than
      MAX_CI_WIDTH (0.5) in absolute terms (wider than the spread of published exponents);
    - more than MAX_FAILED_SHARE (10%) of resamples failed: the interval rests on few sizes;
    - E = 0 (its bound): no floor shows within these sizes, so E is not measured and α is
      that of a pure power law (usually smaller than with a floor).
    """
    warnings: list[str] = []
    if fit.r2 < MIN_R2:
        warnings.append(f"poor fit: R² = {fit.r2:.3f} is below {MIN_R2}")
    if fit.at_bound:
        warnings.append(
            f"α = {fit.alpha:.3g} sits at the edge of the search range "
            f"[{ALPHA_MIN:g}, {ALPHA_MAX:g}]: the sizes do not pin it down"
        )
    width = ci.hi - ci.lo
    if width > fit.alpha or width > MAX_CI_WIDTH:
        warnings.append(
            f"wide {ci.level:.0%} interval for α: [{ci.lo:.3g}, {ci.hi:.3g}] around {fit.alpha:.3g}"
        )
    if ci.failed_share > MAX_FAILED_SHARE:
        warnings.append(
            f"{ci.failed_share:.0%} of bootstrap resamples could not be fitted: "
            "the interval rests on too few distinct sizes"
        )
    if fit.E < 1e-6:  # clamped at, or indistinguishable from, its bound
        warnings.append(
            "E = 0: the losses show no floor within these sizes, so the irreducible loss "
            "is not measured and α is that of a pure power law"
        )
    return warnings


def describe_fit(
    n: ArrayLike, loss: ArrayLike, *, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, object]:
    """The fit, α's bootstrap interval and the warnings, as one JSON-ready report."""
    fit = fit_power_law(n, loss)
    ci = bootstrap_alpha(n, loss, n_boot=n_boot, seed=seed, level=level)
    return {
        "alpha": fit.alpha,
        "E": fit.E,
        "A": fit.A,
        "r2": fit.r2,
        "n_points": fit.n_points,
        "alpha_ci": [ci.lo, ci.hi],
        "ci_level": ci.level,
        "bootstrap_samples": ci.n_samples,
        "bootstrap_failed_share": ci.failed_share,
        "warnings": fit_warnings(fit, ci),
    }


# ------------------------------------------------------------------------- internals


def _check_points(n: ArrayLike, loss: ArrayLike) -> tuple[Floats, Floats]:
    n_arr = np.asarray(n, dtype=np.float64)
    loss_arr = np.asarray(loss, dtype=np.float64)
    if n_arr.ndim != 1 or n_arr.shape != loss_arr.shape:
        raise DataError(
            f"need two 1-D arrays of equal length (got shapes {n_arr.shape} and {loss_arr.shape})"
        )
    if not np.all(np.isfinite(n_arr) & (n_arr > 0)):
        raise DataError(f"parameter counts must be finite and positive (got {n_arr.min():g})")
    if not np.all(np.isfinite(loss_arr) & (loss_arr > 0)):
        bad = loss_arr[~(np.isfinite(loss_arr) & (loss_arr > 0))][0]
        raise DataError(f"losses must be finite and positive (got {bad:g})")
    sizes = np.unique(n_arr).size
    if sizes < MIN_SIZES:
        raise DataError(f"need at least {MIN_SIZES} distinct model sizes to fit (got {sizes})")
    return n_arr, loss_arr


def _solve(alpha: Floats, x_log: Floats, y: Floats, w: Floats) -> _Solution:
    """Best (E, A) with E >= 0, A >= 0 for each row's α and point weights (rows of `w`).

    A convex quadratic in two variables: its constrained minimum is the free minimum when
    that is feasible, else the better of the two edge minima, E = 0 and A = 0.
    """
    x = np.exp(-alpha[:, None] * x_log)
    sw = w.sum(axis=1)
    xm = (w * x).sum(axis=1) / sw
    ym = (w * y).sum(axis=1) / sw
    dx, dy = x - xm[:, None], y - ym[:, None]
    a_free = (w * dx * dy).sum(axis=1) / (w * dx * dx).sum(axis=1)
    e_free = ym - a_free * xm
    rss_free = (w * (dy - a_free[:, None] * dx) ** 2).sum(axis=1)
    a_origin = (w * x * y).sum(axis=1) / (w * x * x).sum(axis=1)  # E = 0 edge
    rss_origin = (w * (y - a_origin[:, None] * x) ** 2).sum(axis=1)
    rss_flat = (w * dy * dy).sum(axis=1)  # A = 0 edge: E is the mean loss

    free_ok = (a_free > 0) & (e_free >= 0)
    origin_better = rss_origin <= rss_flat
    return _Solution(
        rss=np.where(free_ok, rss_free, np.minimum(rss_origin, rss_flat)),
        e=np.where(free_ok, e_free, np.where(origin_better, 0.0, ym)),
        a=np.where(free_ok, a_free, np.where(origin_better, a_origin, 0.0)),
    )


def _fit_rows(x_log: Floats, y: Floats, w: Floats) -> tuple[Floats, _Solution]:
    """Best α per row of weights `w`: grid search, then golden section around the winner."""
    rows = w.shape[0]
    grid = np.geomspace(ALPHA_MIN, ALPHA_MAX, GRID_POINTS)
    rss = np.stack([_solve(np.full(rows, a), x_log, y, w).rss for a in grid], axis=1)
    best = rss.argmin(axis=1)
    lo = grid[np.maximum(best - 1, 0)]
    hi = grid[np.minimum(best + 1, GRID_POINTS - 1)]
    alpha = _golden_section(lambda a: _solve(a, x_log, y, w).rss, lo, hi)
    return alpha, _solve(alpha, x_log, y, w)


def _golden_section(f: Callable[[Floats], Floats], lo: Floats, hi: Floats) -> Floats:
    """Minimise f on [lo, hi] elementwise; one evaluation of f per step for all rows."""
    r = (np.sqrt(5.0) - 1.0) / 2.0
    c, d = hi - r * (hi - lo), lo + r * (hi - lo)
    fc, fd = f(c), f(d)
    for _ in range(GOLDEN_STEPS):
        left = fc <= fd  # the minimum lies in [lo, d]: keep it, else keep [c, hi]
        hi, lo = np.where(left, d, hi), np.where(left, lo, c)
        # The surviving inner point becomes one of the new pair; only one point is new.
        new = np.where(left, hi - r * (hi - lo), lo + r * (hi - lo))
        f_new = f(new)
        c, fc, d, fd = (
            np.where(left, new, d),
            np.where(left, f_new, fd),
            np.where(left, c, new),
            np.where(left, fc, f_new),
        )
    return np.where(fc <= fd, c, d)


def _at_bound(alpha: float) -> bool:
    return alpha <= ALPHA_MIN * (1 + 1e-6) or alpha >= ALPHA_MAX * (1 - 1e-6)


def _resample_fits(
    n: ArrayLike, loss: ArrayLike, *, n_boot: int, seed: int, level: float
) -> _Resamples:
    """Fit `n_boot` resamples at once; drop those with too few sizes or no falling law."""
    if n_boot < 1 or not 0.0 < level < 1.0:
        raise ValueError(f"need n_boot >= 1 and 0 < level < 1 (got {n_boot} and {level})")
    n_arr, loss_arr = _check_points(n, loss)
    rng = np.random.default_rng(seed)
    # Drawing P runs with replacement = multinomial counts over the P runs.
    counts = rng.multinomial(n_arr.size, np.full(n_arr.size, 1.0 / n_arr.size), size=n_boot)
    sizes, which = np.unique(n_arr, return_inverse=True)
    per_size = counts @ (which[:, None] == np.arange(sizes.size)).astype(np.int64)
    usable = (per_size > 0).sum(axis=1) >= MIN_SIZES
    log_n0 = float(np.log(n_arr).mean())
    alpha, sol = _fit_rows(np.log(n_arr) - log_n0, loss_arr, counts[usable].astype(np.float64))
    ok = sol.a > 0
    if not ok.any():
        raise DataError(f"none of the {n_boot} bootstrap resamples could be fitted")
    return _Resamples(
        alpha=alpha[ok], e=sol.e[ok], a=sol.a[ok], log_n0=log_n0, n_failed=int(n_boot - ok.sum())
    )
