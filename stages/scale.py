"""Stage scale: models of growing size on one token budget, and the power law they follow.

Trains every size in `scale.sizes` (model overrides on top of `scale.base`, on top of the
model and train sections) with every seed in `scale.seeds`, all on the same number of
training tokens, scores each best model on the whole general val split, and fits
L(N) = E + A·N^-α over non-embedding parameters N, for val loss and for bits per byte.
Writes reports/scale/metrics.json (runs, fits, α's bootstrap interval, warnings),
reports/scale/fit.md and reports/scale/power_law.png.
"""

from pathlib import Path

import numpy as np

from nanoforge.atomic import write_json, write_text
from nanoforge.config import Overrides, load_params
from nanoforge.experiments.runs import run_specs, train_and_score
from nanoforge.experiments.scaling import describe_fit, fit_power_law, prediction_band
from nanoforge.stage import run_stage
from nanoforge.tokenizers.load import load_tokenizer
from nanoforge.viz.curves import plot_power_law

TOKENIZER = Path("data/tokenizer")
TOKENS = Path("data/tokens/general")
OUT = Path("reports/scale")
WORK = Path("data/cache/train/scale")
METRICS = ("val_loss", "bits_per_byte")


def fit_table(fits: dict[str, dict], budget: int) -> str:
    lines = [
        "# Scaling law L(N) = E + A·N^-α",
        "",
        f"Every size trained on the same budget: {budget:,} tokens.",
        "",
        "| metric | α | 95% CI of α | E | A | R² |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for metric, f in fits.items():
        lo, hi = f["alpha_ci"]
        lines.append(
            f"| {metric} | {f['alpha']:.3f} | [{lo:.3f}, {hi:.3f}] | {f['E']:.3f} | "
            f"{f['A']:.3g} | {f['r2']:.3f} |"
        )
    warnings = [f"- {metric}: {w}" for metric, f in fits.items() for w in f["warnings"]]
    lines += ["", "Warnings:" if warnings else "No warnings: the fits are tight.", *warnings]
    return "\n".join(lines) + "\n"


def main() -> None:
    params = load_params()
    cfg = params.scale
    tokenizer = load_tokenizer(TOKENIZER)
    specs = []
    for name, model in cfg.sizes.items():  # every size checked before any run starts
        layers = [("scale.base", cfg.base), (f"scale.sizes.{name}", Overrides(model=model))]
        specs += run_specs(params, layers, name, cfg.seeds, tokenizer.vocab_size)
    runs = []
    for spec in specs:
        work = WORK / spec.name / f"seed{spec.seed}"
        runs.append({"size": spec.name, **train_and_score(spec, TOKENS, tokenizer, work)})
    n = [run["params_non_embedding"] for run in runs]
    boot = {"n_boot": cfg.bootstrap_samples, "level": cfg.ci_level}
    fits = {m: describe_fit(n, [run[m] for run in runs], **boot) for m in METRICS}
    budget = specs[0].tokens
    write_json(OUT / "metrics.json", {"token_budget": budget, "fits": fits, "runs": runs})
    write_text(OUT / "fit.md", fit_table(fits, budget))

    loss = [run["val_loss"] for run in runs]
    grid = np.geomspace(min(n) / 1.5, max(n) * 1.5, 100)
    band = prediction_band(n, loss, grid, **boot)
    fit = fits["val_loss"]
    plot_power_law(
        n, loss, grid, fit_power_law(n, loss).predict(grid), band.lower, band.upper,
        OUT / "power_law.png",
        title=f"Scaling: val loss vs size, {budget:,} training tokens each",
        label=f"L = {fit['E']:.2f} + {fit['A']:.3g}·N^-{fit['alpha']:.3f} (R² {fit['r2']:.2f})",
    )  # fmt: skip


if __name__ == "__main__":
    run_stage(main)
