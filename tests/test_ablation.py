"""Summarising ablation runs: mean ± sd per variant, the difference to the baseline, output."""

from __future__ import annotations

import json
import math

import pytest

from nanoforge.errors import DataError
from nanoforge.experiments.ablation import (
    RunResult,
    VariantSummary,
    summarize,
    to_json,
    to_markdown,
)


def runs_of(variant: str, val_losses: list[float], bpb: list[float]) -> list[RunResult]:
    return [
        RunResult(variant, seed, {"val_loss": v, "bits_per_byte": b, "step": 100})
        for seed, (v, b) in enumerate(zip(val_losses, bpb, strict=True))
    ]


# baseline: val loss 3.0 ± 0.1. "no_bias" is clearly worse; "gelu" has the same val loss but a
# clearly lower bits/byte.
RUNS = [
    *runs_of("no_bias", [3.5, 3.6, 3.4], [1.50, 1.52, 1.48]),
    *runs_of("baseline", [2.9, 3.0, 3.1], [1.20, 1.21, 1.22]),
    *runs_of("gelu", [2.95, 3.05], [1.15, 1.17]),
]


def by_name(summaries: list[VariantSummary]) -> dict[str, VariantSummary]:
    return {s.variant: s for s in summaries}


# --------------------------------------------------------------------------- summarize


def test_the_baseline_comes_first_then_variants_in_input_order() -> None:
    assert [s.variant for s in summarize(RUNS)] == ["baseline", "no_bias", "gelu"]


def test_means_and_sample_sds_are_computed_per_variant_and_metric() -> None:
    s = by_name(summarize(RUNS))
    base = s["baseline"].metrics["val_loss"]
    assert base.mean == pytest.approx(3.0)
    assert base.sd == pytest.approx(0.1)  # ddof=1: sqrt((0.01 + 0 + 0.01) / 2)
    assert base.n == 3
    gelu = s["gelu"].metrics["bits_per_byte"]
    assert gelu.mean == pytest.approx(1.16)
    assert gelu.sd == pytest.approx(math.sqrt(2 * 0.01**2))
    assert gelu.n == 2
    assert s["gelu"].seeds == (0, 1)


def test_only_the_requested_metrics_are_summarised() -> None:
    summary = summarize(RUNS)[0]
    assert set(summary.metrics) == {"val_loss", "bits_per_byte"}
    assert set(summarize(RUNS, metrics=["step"])[0].metrics) == {"step"}


def test_diff_is_variant_mean_minus_baseline_mean_with_its_sign() -> None:
    s = by_name(summarize(RUNS))
    assert s["no_bias"].metrics["val_loss"].diff == pytest.approx(0.5)
    assert s["no_bias"].metrics["bits_per_byte"].diff == pytest.approx(0.29)
    assert s["gelu"].metrics["val_loss"].diff == pytest.approx(0.0, abs=1e-12)
    assert s["gelu"].metrics["bits_per_byte"].diff == pytest.approx(-0.05)


def test_a_difference_beyond_twice_the_pooled_standard_error_is_significant() -> None:
    worse = by_name(summarize(RUNS))["no_bias"].metrics["val_loss"]
    expected_spread = 2 * math.sqrt(0.1**2 / 3 + 0.1**2 / 3)  # about 0.163
    assert worse.seed_spread == pytest.approx(expected_spread)
    assert worse.significant is True
    better = by_name(summarize(RUNS))["gelu"].metrics["bits_per_byte"]
    assert better.seed_spread == pytest.approx(
        2 * math.sqrt(0.01**2 / 3 + 0.01414**2 / 2), rel=1e-3
    )
    assert better.significant is True


def test_a_difference_within_the_seed_spread_is_not_significant() -> None:
    runs = [*runs_of("baseline", [2.9, 3.1], [1.2, 1.3]), *runs_of("v", [2.95, 3.15], [1.2, 1.3])]
    v = by_name(summarize(runs))["v"].metrics["val_loss"]
    assert v.diff == pytest.approx(0.05)
    assert v.seed_spread == pytest.approx(2 * math.sqrt(0.02 / 2 + 0.02 / 2))
    assert v.significant is False


def test_the_baseline_is_not_compared_with_itself() -> None:
    base = summarize(RUNS)[0]
    assert base.is_baseline
    assert base.metrics["val_loss"].diff is None
    assert base.metrics["val_loss"].significant is None


def test_another_variant_can_be_named_the_baseline() -> None:
    s = summarize(RUNS, baseline="gelu")
    assert [x.variant for x in s] == ["gelu", "no_bias", "baseline"]
    assert s[2].metrics["val_loss"].diff == pytest.approx(0.0, abs=1e-12)


def test_a_diverged_run_makes_the_mean_nan_and_is_never_significant() -> None:
    runs = [*runs_of("baseline", [3.0, 3.1], [1.2, 1.3]), *runs_of("v", [math.nan, 9.0], [1, 2])]
    v = by_name(summarize(runs))["v"].metrics["val_loss"]
    assert math.isnan(v.mean) and math.isnan(v.diff)
    assert v.significant is False


# ------------------------------------------------------------------------------ errors


def test_a_missing_baseline_is_an_error_naming_it() -> None:
    with pytest.raises(DataError, match="no runs for the baseline variant 'control'"):
        summarize(RUNS, baseline="control")


def test_a_variant_with_one_seed_is_an_error() -> None:
    runs = [*RUNS, RunResult("lonely", 0, {"val_loss": 3.0, "bits_per_byte": 1.2})]
    with pytest.raises(DataError, match="variant 'lonely' has 1 seed"):
        summarize(runs)


def test_a_missing_metric_is_an_error_naming_variant_and_key() -> None:
    runs = [*RUNS, *runs_of("v", [3.0, 3.1], [1.2, 1.3])]
    runs[-1] = RunResult("v", 1, {"val_loss": 3.1})
    with pytest.raises(DataError, match="variant 'v' \\(seed 1\\) has no metric 'bits_per_byte'"):
        summarize(runs)


def test_a_non_numeric_metric_is_an_error() -> None:
    runs = [*RUNS, RunResult("v", 0, {"val_loss": "n/a", "bits_per_byte": 1.0})]
    runs.append(RunResult("v", 1, {"val_loss": 3.0, "bits_per_byte": 1.0}))
    with pytest.raises(DataError, match="metric 'val_loss' is not a number"):
        summarize(runs)


def test_a_seed_run_twice_for_one_variant_is_an_error() -> None:
    with pytest.raises(DataError, match="variant 'gelu' has seed 1 twice"):
        summarize([*RUNS, RUNS[-1]])


def test_no_runs_is_an_error() -> None:
    with pytest.raises(DataError, match="no ablation runs"):
        summarize([])


# ---------------------------------------------------------------------------- markdown


def test_markdown_has_a_header_and_one_row_per_variant_in_order() -> None:
    lines = to_markdown(summarize(RUNS)).splitlines()
    assert lines[0] == (
        "| variant | seeds | val loss (mean ± sd) | Δ vs baseline | beyond seed spread? "
        "| bits/byte (mean ± sd) | Δ vs baseline | beyond seed spread? |"
    )
    assert lines[1].startswith("| --- | ---: |")
    assert lines[2] == "| baseline | 3 | 3.0000 ± 0.1000 | — | — | 1.2100 ± 0.0100 | — | — |"
    assert (
        lines[3]
        == "| no_bias | 3 | 3.5000 ± 0.1000 | +0.5000 | yes | 1.5000 ± 0.0200 | +0.2900 | yes |"
    )
    assert (
        lines[4]
        == "| gelu | 2 | 3.0000 ± 0.0707 | +0.0000 | no | 1.1600 ± 0.0141 | -0.0500 | yes |"
    )


def test_markdown_states_the_rule_under_the_table() -> None:
    text = to_markdown(summarize(RUNS))
    assert "Beyond seed spread: |Δ| > 2·sqrt(sd²/n + sd_baseline²/n_baseline)" in text


def test_markdown_can_show_other_metrics_and_escapes_pipes_in_names() -> None:
    runs = [*RUNS, *runs_of("a|b", [3.2, 3.3], [1.3, 1.3])]
    text = to_markdown(summarize(runs, metrics=["val_loss"]), metrics=["val_loss"])
    assert "bits/byte" not in text
    assert "| a\\|b | 2 | 3.2500 ± 0.0707 | +0.2500 |" in text
    with pytest.raises(DataError, match="no metric 'bits_per_byte'"):
        to_markdown(summarize(runs, metrics=["val_loss"]))


# -------------------------------------------------------------------------------- json


def test_json_holds_every_number_and_survives_a_strict_round_trip() -> None:
    data = to_json(summarize(RUNS))
    assert data["baseline"] == "baseline"
    assert [v["variant"] for v in data["variants"]] == ["baseline", "no_bias", "gelu"]
    worse = data["variants"][1]["metrics"]["val_loss"]
    assert worse["mean"] == pytest.approx(3.5)
    assert worse["sd"] == pytest.approx(0.1)
    assert worse["n"] == 3
    assert worse["diff"] == pytest.approx(0.5)
    assert worse["significant"] is True
    assert json.loads(json.dumps(data, allow_nan=False)) == data


def test_json_writes_undefined_numbers_as_null() -> None:
    runs = [*runs_of("baseline", [3.0, 3.1], [1.2, 1.3]), *runs_of("v", [math.inf, 9.0], [1, 2])]
    data = to_json(summarize(runs))
    v = data["variants"][1]["metrics"]["val_loss"]
    assert v["mean"] is None and v["sd"] is None and v["diff"] is None
    assert data["variants"][0]["metrics"]["val_loss"]["diff"] is None
    json.dumps(data, allow_nan=False)
