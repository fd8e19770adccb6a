"""Stage evaluate: every trained model scored, its decoding probed, samples written.

For each model in `evaluate.models` (folders under models/): loss, perplexity and bits
per byte on the general and domain val splits; the decoding-strategy table beside the
same figures for real val text; the adversarial suite. Writes
reports/evaluate/metrics.json (keyed by model) and reports/evaluate/samples.md.
"""

from pathlib import Path

from nanoforge.atomic import write_json, write_text
from nanoforge.config import load_params
from nanoforge.data.corpus import iter_texts
from nanoforge.evaluate.decoding import word_vocabulary
from nanoforge.evaluate.suite import evaluate_model, strategies
from nanoforge.stage import run_stage

MODELS = Path("models")
TOKENS = Path("data/tokens")
GENERAL = Path("data/clean/general.parquet")
OUT = Path("reports/evaluate")


def main() -> None:
    params = load_params()
    cfg = params.evaluate
    strategies(cfg)  # check every strategy before any work
    vocabulary = word_vocabulary(iter_texts(GENERAL, "train"))
    metrics, samples = {}, ["# Samples", ""]
    for name in cfg.models:
        report = evaluate_model(MODELS / name, TOKENS, cfg, vocabulary, params.train.device)
        metrics[name] = report.metrics
        samples.append(report.samples)
    write_json(OUT / "metrics.json", metrics)
    write_text(OUT / "samples.md", "\n".join(samples))


if __name__ == "__main__":
    run_stage(main)
