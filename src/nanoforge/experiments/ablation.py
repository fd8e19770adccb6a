"""Summarise ablation runs: mean ± sd over seeds per variant, and each change against the baseline.

An ablation trains the baseline and each variant (one named override of the params) with
several seeds. The seeds show how far a metric moves by chance alone, so a variant's
difference from the baseline is reported together with that spread:

    beyond seed spread  <=>  |mean_v - mean_b| > 2 * sqrt(sd_v² / n_v + sd_b² / n_b)

2 × the standard error of the difference of two means (sd: sample sd, ddof=1). It is a
simple honest rule of thumb for "more than noise", not a formal significance test: with
two or three seeds the sd itself is very uncertain.

A diverged run (a NaN or infinite metric) is kept, not hidden: its variant's mean and sd
become NaN/inf, it is never "beyond seed spread", and JSON shows the undefined numbers as null.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nanoforge.errors import DataError

DEFAULT_METRICS = ("val_loss", "bits_per_byte")
MIN_SEEDS = 2  # one seed has no spread to compare a difference with
SPREAD_RULE = "|Δ| > 2·sqrt(sd²/n + sd_baseline²/n_baseline); a rule of thumb, not a formal test"
METRIC_LABELS = {"val_loss": "val loss", "bits_per_byte": "bits/byte"}


@dataclass(frozen=True)
class RunResult:
    """One finished training run: which variant, which seed, its final metrics."""

    variant: str
    seed: int
    metrics: Mapping[str, float]


@dataclass(frozen=True)
class MetricSummary:
    """One metric of one variant over its seeds.

    `sd` is the sample sd (ddof=1; it would be NaN for one seed, which `summarize` refuses).
    `diff` is the mean minus the baseline's mean, `seed_spread` the 2 × standard-error bar
    and `significant` whether |diff| exceeds it (the rule in the module docstring, not a
    formal test). All three are None for the baseline itself.
    """

    mean: float
    sd: float
    n: int
    diff: float | None
    seed_spread: float | None
    significant: bool | None


@dataclass(frozen=True)
class VariantSummary:
    """All summarised metrics of one variant, with the seeds it was run with."""

    variant: str
    seeds: tuple[int, ...]
    is_baseline: bool
    metrics: Mapping[str, MetricSummary]


def summarize(
    runs: Iterable[RunResult],
    baseline: str = "baseline",
    metrics: Sequence[str] = DEFAULT_METRICS,
) -> list[VariantSummary]:
    """Per-variant mean ± sd of each metric and its difference to `baseline`.

    Returns the baseline first, then the other variants in the order they first appear in
    `runs`. Raises DataError when there are no runs, the baseline has none, a variant has
    fewer than MIN_SEEDS seeds or a seed twice, or a run lacks one of `metrics`.
    """
    groups = _group_by_variant(runs)
    if baseline not in groups:
        raise DataError(f"no runs for the baseline variant {baseline!r} (got {sorted(groups)})")
    values = {name: _metric_values(name, group, metrics) for name, group in groups.items()}
    base = {m: _mean_sd(v) for m, v in values[baseline].items()}
    order = [baseline] + [name for name in groups if name != baseline]
    return [
        VariantSummary(
            variant=name,
            seeds=tuple(run.seed for run in groups[name]),
            is_baseline=name == baseline,
            metrics={
                m: _summarize_metric(v, None if name == baseline else base[m])
                for m, v in values[name].items()
            },
        )
        for name in order
    ]


def to_markdown(
    summaries: Sequence[VariantSummary], metrics: Sequence[str] = DEFAULT_METRICS
) -> str:
    """A Markdown table, one row per variant (baseline first), then a line stating the rule."""
    for m in metrics:
        if summaries and m not in summaries[0].metrics:
            raise DataError(f"the summaries have no metric {m!r}")
    header = ["variant", "seeds"]
    align = ["---", "---:"]
    for m in metrics:
        header += [f"{METRIC_LABELS.get(m, m.replace('_', ' '))} (mean ± sd)", "Δ vs baseline"]
        header += ["beyond seed spread?"]
        align += ["---:", "---:", ":---:"]
    lines = [_row(header), _row(align)]
    for s in summaries:
        cells = [s.variant.replace("|", "\\|"), str(len(s.seeds))]
        for m in metrics:
            cells += _metric_cells(s.metrics[m])
        lines.append(_row(cells))
    lines += ["", f"Beyond seed spread: {SPREAD_RULE}."]
    return "\n".join(lines) + "\n"


def to_json(summaries: Sequence[VariantSummary]) -> dict[str, Any]:
    """A JSON-serialisable dict (undefined numbers, NaN or infinite, become None)."""
    baseline = next((s.variant for s in summaries if s.is_baseline), None)
    return {
        "baseline": baseline,
        "rule": SPREAD_RULE,
        "variants": [
            {
                "variant": s.variant,
                "seeds": list(s.seeds),
                "is_baseline": s.is_baseline,
                "metrics": {m: _metric_json(ms) for m, ms in s.metrics.items()},
            }
            for s in summaries
        ],
    }


# ------------------------------------------------------------------------- internals


def _group_by_variant(runs: Iterable[RunResult]) -> dict[str, list[RunResult]]:
    groups: dict[str, list[RunResult]] = {}
    for run in runs:
        group = groups.setdefault(run.variant, [])
        if any(other.seed == run.seed for other in group):
            raise DataError(f"variant {run.variant!r} has seed {run.seed} twice")
        group.append(run)
    if not groups:
        raise DataError("no ablation runs to summarise")
    for name, group in groups.items():
        if len(group) < MIN_SEEDS:
            raise DataError(
                f"variant {name!r} has {len(group)} seed(s); the ablation needs at least "
                f"{MIN_SEEDS} per variant to measure the seed spread"
            )
    return groups


def _metric_values(
    name: str, group: Sequence[RunResult], metrics: Sequence[str]
) -> dict[str, list[float]]:
    values: dict[str, list[float]] = {m: [] for m in metrics}
    for run in group:
        for m in metrics:
            if m not in run.metrics:
                raise DataError(f"variant {name!r} (seed {run.seed}) has no metric {m!r}")
            try:
                values[m].append(float(run.metrics[m]))
            except (TypeError, ValueError):
                raise DataError(
                    f"variant {name!r} (seed {run.seed}): metric {m!r} is not a number "
                    f"({run.metrics[m]!r})"
                ) from None
    return values


def _mean_sd(xs: Sequence[float]) -> tuple[float, float, int]:
    """Mean, sample sd (ddof=1) and count; plain floats, so NaN and inf propagate quietly."""
    n = len(xs)
    mean = sum(xs) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1)) if n > 1 else math.nan
    return mean, sd, n


def _summarize_metric(xs: Sequence[float], base: tuple[float, float, int] | None) -> MetricSummary:
    mean, sd, n = _mean_sd(xs)
    if base is None:
        return MetricSummary(mean, sd, n, diff=None, seed_spread=None, significant=None)
    base_mean, base_sd, base_n = base
    diff = mean - base_mean
    spread = 2.0 * math.sqrt(sd**2 / n + base_sd**2 / base_n)
    # A NaN on either side compares False: a diverged run is never "beyond the spread".
    return MetricSummary(mean, sd, n, diff, spread, significant=abs(diff) > spread)


def _metric_cells(ms: MetricSummary) -> list[str]:
    mean_sd = f"{ms.mean:.4f} ± {ms.sd:.4f}"
    if ms.diff is None:
        return [mean_sd, "—", "—"]
    return [mean_sd, f"{ms.diff:+.4f}", "yes" if ms.significant else "no"]


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _metric_json(ms: MetricSummary) -> dict[str, Any]:
    return {
        "mean": _finite_or_none(ms.mean),
        "sd": _finite_or_none(ms.sd),
        "n": ms.n,
        "diff": _finite_or_none(ms.diff),
        "seed_spread": _finite_or_none(ms.seed_spread),
        "significant": ms.significant,
    }


def _finite_or_none(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def load_runs(folder: str | Path, variants: Iterable[str]) -> list[RunResult]:
    """The runs the ablate_variant stage wrote to `folder` (`<variant>.json` each)."""
    runs: list[RunResult] = []
    for name in variants:
        path = Path(folder) / f"{name}.json"
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            runs += [
                RunResult(name, int(run["seed"]), {m: float(run[m]) for m in DEFAULT_METRICS})
                for run in record["runs"]
            ]
        except FileNotFoundError:
            raise DataError(f"{path}: not found; run `dvc repro ablate_variant@{name}`") from None
        except (ValueError, KeyError, TypeError) as err:
            raise DataError(
                f"{path}: not a run record ({err!r}); run `dvc repro -f ablate_variant@{name}`"
            ) from None
    return runs
