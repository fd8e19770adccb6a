"""Finetuning on the domain corpus, with and without replay, and what it costs in forgetting.

A run starts from the pre-trained weights and trains on domain batches (a `replay` share
of them general batches, see `nanoforge.data.mixing`), watching domain val loss for early
stopping and general val loss for forgetting. Both splits are scored whole before and
after, so "before → after" compares like with like (the evaluate stage scores the same way).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from nanoforge.config import TrainConfig
from nanoforge.data.memmap import TokenSplit
from nanoforge.data.mixing import ReplayMix
from nanoforge.evaluate.perplexity import score_split
from nanoforge.model.gpt import GPT
from nanoforge.tokenizers.base import Tokenizer
from nanoforge.train.checkpoint import load_model
from nanoforge.train.device import pick_device
from nanoforge.train.loop import TrainResult, train

MetricsLog = Callable[[int, dict[str, float]], None]


@dataclass(frozen=True)
class Corpora:
    """The train and val splits of both corpora (one tokenizer)."""

    domain_train: TokenSplit
    domain_val: TokenSplit
    general_train: TokenSplit
    general_val: TokenSplit

    @classmethod
    def open(cls, tokens: Path, tokenizer_hash: str) -> Corpora:
        """The splits under `tokens`/domain and `tokens`/general."""

        def split(corpus: str, name: str) -> TokenSplit:
            return TokenSplit(tokens / corpus, name, tokenizer_hash)

        return cls(split("domain", "train"), split("domain", "val"),
                   split("general", "train"), split("general", "val"))  # fmt: skip


RUNS = ("no_replay", "replay")
"""The two runs, in training order; the last is published as models/finetune."""


def replay_runs(replay: float) -> dict[str, float]:
    """The runs to train, name -> replay share: one without replay, for comparison."""
    return dict(zip(RUNS, (0.0, replay), strict=True))


def score(model: GPT, corpora: Corpora, tokenizer: Tokenizer) -> dict[str, dict[str, float]]:
    """Loss, perplexity and bits per byte on the whole domain and general val splits."""
    splits = {"domain": corpora.domain_val, "general": corpora.general_val}
    return {name: score_split(model, split, tokenizer).to_dict() for name, split in splits.items()}


def finetune(
    base: Path,
    cfg: TrainConfig,
    corpora: Corpora,
    replay: float,
    work: Path,
    log: MetricsLog | None = None,
) -> TrainResult:
    """Train from the model in `base`; the best model by domain val loss goes to `work`/model."""
    model_cfg = load_model(base).config
    return train(
        model_cfg,
        cfg,
        ReplayMix(corpora.domain_train, corpora.general_train, replay),
        corpora.domain_val,
        work / "model",
        state_dir=work / "state",
        log=log,
        init_weights=base,
        monitor={"general_val": corpora.general_val},
    )


def scored(folder: Path, device: str, corpora: Corpora, tokenizer: Tokenizer) -> dict:
    """`score` of the model saved in `folder`."""
    return score(load_model(folder, pick_device(device)), corpora, tokenizer)


def change(before: Mapping[str, dict[str, float]], after: Mapping[str, dict[str, float]]) -> dict:
    """after - before of each split's loss and bits per byte (negative: better)."""
    return {
        split: {k: after[split][k] - before[split][k] for k in ("loss", "bits_per_byte")}
        for split in before
    }
