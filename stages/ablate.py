"""Stage ablate: every variant against the baseline, mean ± sd over seeds.

Reads reports/ablate/runs/*.json (one per variant, written by ablate_variant@NAME) and
writes reports/ablate/summary.json (the table as data, also DVC metrics),
reports/ablate/table.md and reports/ablate/val_loss.png (bars with ± sd).
"""

from pathlib import Path

from nanoforge.atomic import write_json, write_text
from nanoforge.config import load_params
from nanoforge.experiments.ablation import load_runs, summarize, to_json, to_markdown
from nanoforge.stage import run_stage
from nanoforge.viz.curves import plot_bars_with_errors

RUNS = Path("reports/ablate/runs")
OUT = Path("reports/ablate")


def main() -> None:
    cfg = load_params().ablate
    summaries = summarize(load_runs(RUNS, cfg.variants))
    write_json(OUT / "summary.json", to_json(summaries))
    seeds = ", ".join(map(str, cfg.seeds))
    write_text(OUT / "table.md", f"# Ablations (seeds {seeds})\n\n" + to_markdown(summaries))
    loss = [s.metrics["val_loss"] for s in summaries]
    plot_bars_with_errors(
        [s.variant for s in summaries],
        [m.mean for m in loss],
        [m.sd for m in loss],
        OUT / "val_loss.png",
        title=f"Ablations: val loss, mean ± sd over seeds {seeds}",
        ylabel="val loss (nats/token, whole general val split)",
        baseline=loss[0].mean,
    )


if __name__ == "__main__":
    run_stage(main)
