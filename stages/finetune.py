"""Stage finetune: the pre-trained model trained on the domain corpus.

Trains from models/pretrain with `finetune.train` (overrides of the train section: lower
lr, patience for early stopping on domain val) twice: without replay and with a
`finetune.replay` share of general batches. Each run's curves (train, domain val and
general val loss) go to reports/finetune/<run>/; reports/finetune/metrics.json holds the
domain and general val loss and bits per byte before -> after for both runs. The replay
run's best model becomes models/finetune/.
"""

import shutil
from pathlib import Path

from nanoforge.atomic import write_json
from nanoforge.config import load_params, merged_train
from nanoforge.experiments.finetune import RUNS, Corpora, change, finetune, replay_runs, scored
from nanoforge.stage import run_stage
from nanoforge.tokenizers.base import FILE_NAME
from nanoforge.tokenizers.load import load_tokenizer
from nanoforge.train.checkpoint import load_model, save_checkpoint
from nanoforge.train.runs import TRAIN_SUMMARY, dvclive_log

PRETRAINED = Path("models/pretrain")
TOKENS = Path("data/tokens")
OUT = Path("models/finetune")
REPORTS = Path("reports/finetune")
WORK = Path("data/cache/train/finetune")


def main() -> None:
    params = load_params()
    cfg = params.finetune
    train_cfg = merged_train(params.train, cfg.train, "finetune.train")
    tokenizer = load_tokenizer(PRETRAINED)
    corpora = Corpora.open(TOKENS, tokenizer.hash)
    before = scored(PRETRAINED, train_cfg.device, corpora, tokenizer)
    metrics: dict[str, object] = {"replay_share": cfg.replay, "before": before}
    runs = replay_runs(cfg.replay)
    for name, replay in runs.items():
        with dvclive_log(REPORTS / name) as (live, log):
            result = finetune(PRETRAINED, train_cfg, corpora, replay, WORK / name, log)
            live.summary.update(vars(result))
        after = scored(WORK / name / "model", train_cfg.device, corpora, tokenizer)
        metrics[name] = {"replay": replay, "after": after, "change": change(before, after),
                         "train": vars(result)}  # fmt: skip
    published = RUNS[-1]
    model = load_model(WORK / published / "model")
    save_checkpoint(OUT, model, model.config)
    shutil.copy(PRETRAINED / FILE_NAME, OUT / FILE_NAME)
    write_json(OUT / TRAIN_SUMMARY, {"run": published, **metrics[published]["train"]})
    write_json(REPORTS / "metrics.json", {"published": published, **metrics})


if __name__ == "__main__":
    run_stage(main)
