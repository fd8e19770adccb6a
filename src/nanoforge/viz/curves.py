"""Charts of numbers: training curves, the ablation bar chart, the scaling-law plot.

Training curves are read from the TSV files dvclive writes per metric
(`reports/<run>/plots/metrics/<name>.tsv`, a header `step<TAB><name>`, one row per logged
step; extra columns such as `timestamp` are ignored). The bar chart and the power-law plot
take plain numbers, so they do not depend on how the experiments store their results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter

from nanoforge.errors import DataError
from nanoforge.viz.figure import new_figure, save_png

LOSS_LABEL = "loss (nats/token)"


# ---------------------------------------------------------------------- reading


def _curve_lines(path: Path, name: str) -> list[tuple[int, list[str]]]:
    """(line number, fields) of each non-blank line of the TSV at `path`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(
            f"{path}: no such curve file; run the training stage that logs {name!r}"
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read the curve file ({err})") from None
    lines = text.splitlines()
    return [(n, line.split("\t")) for n, line in enumerate(lines, start=1) if line.strip()]


def read_curve(folder: str | Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Steps (int64) and values (float64) of the metric `name` logged in `folder`.

    Reads `folder/<name>.tsv`; a missing file, a header without `step` and `name`
    columns, a short row or a non-number is a `DataError` naming the file and line.
    """
    path = Path(folder) / f"{name}.tsv"
    rows = _curve_lines(path, name)
    if not rows:
        raise DataError(f"{path}: empty; expected a header 'step<TAB>{name}' and rows")
    header = rows[0][1]
    if "step" not in header or name not in header:
        raise DataError(f"{path}: header {header} lacks the columns 'step' and {name!r}")
    if len(rows) == 1:
        raise DataError(f"{path}: header only, no logged steps; the run logged nothing")
    i, j = header.index("step"), header.index(name)
    steps, values = [], []
    for lineno, row in rows[1:]:
        if len(row) != len(header):
            raise DataError(f"{path}:{lineno}: {len(row)} fields, the header has {len(header)}")
        try:
            steps.append(int(row[i]))
            values.append(float(row[j]))
        except ValueError:
            raise DataError(f"{path}:{lineno}: not a step and a number: {row}") from None
    return np.array(steps, dtype=np.int64), np.array(values, dtype=np.float64)


# -------------------------------------------------------------- training curves


TRAIN_VAL = {"train_loss": "train", "val_loss": "val"}
STYLES = ("-", "o--", "s:", "^-.")


def _draw_run(ax: Axes, label: str, folder: str | Path, curves: Mapping[str, str]) -> None:
    for (name, legend), style in zip(curves.items(), STYLES, strict=False):
        steps, values = read_curve(folder, name)
        ax.plot(steps, values, style, label=legend, markersize=4)
    ax.set_title(label)
    ax.set_xlabel("step")
    ax.grid(True, color="0.9", linewidth=0.6)
    ax.legend()


def plot_training_curves(
    runs: Mapping[str, str | Path],
    path: str | Path,
    title: str,
    curves: Mapping[str, str] = TRAIN_VAL,
) -> Path:
    """Loss curves against step (`curves`: metric name -> legend, up to 4; default train
    and val loss), one panel per run (label -> dvclive metrics folder), on one shared
    loss scale. Writes the PNG at `path` and returns it."""
    if not runs:
        raise ValueError("plot_training_curves needs at least one run")
    fig = new_figure(5.0 * len(runs), 4.0)
    axes = fig.subplots(1, len(runs), squeeze=False, sharey=True)[0]
    for ax, (label, folder) in zip(axes, runs.items(), strict=True):
        _draw_run(ax, label, folder, curves)
    axes[0].set_ylabel(LOSS_LABEL)
    fig.suptitle(title)
    return save_png(fig, path)


# ------------------------------------------------------------------ bar chart


def _bar_origin(lo: float, span: float) -> float:
    """Where bars start: 0 when that is near, else a bit below the lowest value, so that
    small differences between large values (losses around 3) stay visible."""
    origin = lo - 0.5 * span
    return 0.0 if origin <= 0 <= lo else origin


def plot_bars_with_errors(
    names: Sequence[str],
    means: Sequence[float],
    sds: Sequence[float],
    path: str | Path,
    title: str,
    ylabel: str,
    baseline: float | None = None,
) -> Path:
    """Horizontal bars of `means` ± `sds` (error bars), one per name, top to bottom.

    `ylabel` names the value axis (horizontal here). A NaN sd (a single seed) draws no
    error bar. `baseline`, when given, is a dashed vertical line. Returns `path`.
    """
    mean = np.asarray(means, dtype=np.float64)
    sd = np.asarray(sds, dtype=np.float64)
    reach = np.nan_to_num(sd)  # how far each error bar reaches; none for a NaN sd
    ends = [*(mean - reach), *(mean + reach), *([baseline] if baseline is not None else [])]
    lo, hi = min(ends), max(ends)
    span = (hi - lo) or abs(hi) or 1.0
    origin = _bar_origin(lo, span)

    fig = new_figure(7.0, 1.2 + 0.45 * len(names))
    ax = fig.subplots()
    y = np.arange(len(names))
    ax.barh(y, mean - origin, left=origin, xerr=sd, color="tab:blue", alpha=0.75, capsize=3)
    for yi, m, s, r in zip(y, mean, sd, reach, strict=True):
        text = f"{m:.3f}" if np.isnan(s) else f"{m:.3f} ± {s:.3f}"
        ax.text(m + r + 0.02 * span, yi, text, va="center", fontsize=8)
    if baseline is not None:
        ax.axvline(baseline, color="black", linestyle="--", linewidth=1, label="baseline")
        ax.legend(loc="lower right")
    ax.set_yticks(y, list(names))
    ax.invert_yaxis()  # the first name on top
    ax.set_xlim(origin, hi + 0.45 * span)  # room on the right for the value texts
    ax.set_xlabel(ylabel)
    ax.grid(True, axis="x", color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.set_title(title)
    return save_png(fig, path)


# ------------------------------------------------------------------- power law


def plot_power_law(
    n: Sequence[float],
    loss: Sequence[float],
    fit_curve_grid: Sequence[float],
    fit_curve: Sequence[float],
    band_lo: Sequence[float],
    band_hi: Sequence[float],
    path: str | Path,
    title: str,
    label: str,
) -> Path:
    """The scaling plot on log-log axes: measured (N, loss) points, the fitted curve
    over `fit_curve_grid` (legend text `label`, e.g. the formula) and its uncertainty
    band between `band_lo` and `band_hi`. Returns `path`."""
    fig = new_figure(6.0, 4.5)
    ax = fig.subplots()
    band = {"color": "tab:orange", "alpha": 0.2, "linewidth": 0}
    ax.fill_between(fit_curve_grid, band_lo, band_hi, label="uncertainty band", **band)
    ax.plot(fit_curve_grid, fit_curve, color="tab:orange", label=label)
    ax.plot(n, loss, "o", color="tab:blue", label="runs")
    ax.set_xscale("log")
    ax.set_yscale("log")
    # Losses span much less than a decade: plain numbers read better than 3×10⁰.
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)
    ax.set_xlabel("non-embedding parameters N")
    ax.set_ylabel("val loss")
    ax.grid(True, which="both", color="0.9", linewidth=0.6)
    ax.legend()
    ax.set_title(title)
    return save_png(fig, path)
