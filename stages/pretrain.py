"""Stage pretrain: train the GPT on the general corpus.

Writes models/pretrain/ (the best-by-val model.pt, config.json, the tokenizer it reads
and train.json, the run's summary) and reports/pretrain/ (per-eval curves and a summary,
through dvclive). The training state for resuming lives in data/cache/train/pretrain/,
outside DVC's outputs.

Runs as one process (`python stages/pretrain.py`) or data-parallel under torchrun
(`torchrun --nproc_per_node=2 stages/pretrain.py`); then only rank 0 writes files.
"""

import shutil
from contextlib import nullcontext
from pathlib import Path

from nanoforge.atomic import write_json
from nanoforge.config import load_params
from nanoforge.data.memmap import TokenSplit
from nanoforge.stage import run_stage
from nanoforge.tokenizers.base import FILE_NAME
from nanoforge.tokenizers.load import load_tokenizer
from nanoforge.train.distributed import distributed
from nanoforge.train.loop import train
from nanoforge.train.runs import TRAIN_SUMMARY, dvclive_log, model_config

TOKENIZER = Path("data/tokenizer")
TOKENS = Path("data/tokens/general")
OUT = Path("models/pretrain")
REPORTS = Path("reports/pretrain")
STATE = Path("data/cache/train/pretrain")


def main() -> None:
    params = load_params()
    tokenizer = load_tokenizer(TOKENIZER)
    model_cfg = model_config(params.model, tokenizer.vocab_size)
    train_data = TokenSplit(TOKENS, "train", tokenizer.hash)
    val_data = TokenSplit(TOKENS, "val", tokenizer.hash)
    with distributed() as dist:
        with dvclive_log(REPORTS) if dist.is_main else nullcontext((None, None)) as (live, log):
            result = train(
                model_cfg, params.train, train_data, val_data, OUT, state_dir=STATE, log=log,
                rank=dist.rank, world_size=dist.world_size,
            )  # fmt: skip
            if live is not None:
                live.summary.update(vars(result))
        if dist.is_main:
            shutil.copy(TOKENIZER / FILE_NAME, OUT / FILE_NAME)
            write_json(OUT / TRAIN_SUMMARY, vars(result))


if __name__ == "__main__":
    run_stage(main)
