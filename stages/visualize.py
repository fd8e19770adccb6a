"""Stage visualize: figures of the trained models and runs, then the report.

Writes reports/figures/ (embedding PCA of every model in `visualize.models` side by
side, an attention grid per model over `visualize.prompt`, the pretrain and finetune
training curves) and reports/index.md + reports/index.html, the report of the whole run.
"""

from pathlib import Path

from nanoforge.config import load_params
from nanoforge.data.memmap import TokenSplit
from nanoforge.experiments.finetune import RUNS
from nanoforge.stage import log, run_stage
from nanoforge.tokenizers.load import load_tokenizer
from nanoforge.train.checkpoint import load_model
from nanoforge.viz.curves import plot_training_curves
from nanoforge.viz.model_figures import attention_figure, embeddings_figure
from nanoforge.viz.report import write_report

MODELS = Path("models")
TOKENS = Path("data/tokens/general")
REPORTS = Path("reports")
FIGURES = REPORTS / "figures"


def main() -> None:
    params = load_params()
    cfg = params.visualize
    tokenizer = load_tokenizer(MODELS / cfg.models[0])
    models = {name: load_model(MODELS / name) for name in cfg.models}
    counts = TokenSplit(TOKENS, "train", tokenizer.hash).counts()
    embeddings_figure(models, tokenizer, counts, cfg.label_tokens, FIGURES / "embeddings_pca.png")
    for name, model in models.items():
        attention_figure(model, tokenizer, cfg.prompt, FIGURES / f"attention_{name}.png", name)
    plot_training_curves(
        {"pretrain": REPORTS / "pretrain/plots/metrics"},
        FIGURES / "training_curves.png", "Pretraining: loss per token, train and val",
    )  # fmt: skip
    plot_training_curves(
        {f"finetune, {run.replace('_', ' ')}": REPORTS / f"finetune/{run}/plots/metrics"
         for run in RUNS},
        FIGURES / "finetune_curves.png", "Finetuning: domain loss, and general loss (forgetting)",
        {"train_loss": "train (batches seen)", "val_loss": "domain val",
         "general_val_loss": "general val"},
    )  # fmt: skip
    index_md, _ = write_report(Path("."), params)
    log.info("report: %s (and index.html beside it)", index_md)


if __name__ == "__main__":
    run_stage(main)
