"""Short training runs for experiments: params + overrides -> one trained, scored model.

The ablate and scale stages train many small models with the one training loop
(`nanoforge.train.loop.train`) and compare them on the whole general val split, scored
the same way as the evaluate stage (loss and bits per byte). This module turns the
params and a run's overrides into configs (checked before any run starts), and runs one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

from nanoforge.config import Overrides, Params, TrainConfig, merged_train
from nanoforge.data.memmap import TokenSplit
from nanoforge.errors import ConfigError
from nanoforge.evaluate.perplexity import score_split
from nanoforge.model.gpt import GPTConfig
from nanoforge.tokenizers.base import Tokenizer
from nanoforge.train.checkpoint import load_model
from nanoforge.train.device import pick_device
from nanoforge.train.loop import train
from nanoforge.train.runs import model_config

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSpec:
    """One run of an experiment: a name (variant or size), a seed and the configs to train."""

    name: str
    seed: int
    model: GPTConfig
    train: TrainConfig

    @property
    def tokens(self) -> int:
        """Training tokens the run reads: its budget."""
        t = self.train
        return t.max_steps * t.batch_size * t.grad_accum * self.model.block_size


def run_specs(
    params: Params,
    layers: list[tuple[str, Overrides]],
    name: str,
    seeds: tuple[int, ...],
    vocab_size: int,
) -> list[RunSpec]:
    """The runs of `name`, one per seed: `params.model`/`params.train` with each of `layers`
    (key, overrides) applied in order. A bad override fails here, naming its key."""
    model: dict[str, object] = dict(params.model)
    train_cfg = params.train
    for key, overrides in layers:
        model.update(overrides.model)
        train_cfg = merged_train(train_cfg, overrides.train, f"{key}.train")
    try:
        model_cfg = model_config(model, vocab_size)
    except ConfigError as err:
        where = " and ".join(f"{key}.model" for key, _ in layers)
        raise ConfigError(f"{where} (overrides of model): {err}") from None
    return [RunSpec(name, seed, model_cfg, replace(train_cfg, seed=seed)) for seed in seeds]


def train_and_score(
    spec: RunSpec, tokens: Path, tokenizer: Tokenizer, work: Path
) -> dict[str, float | int | bool]:
    """Train `spec` on the general tokens (state and best model under `work`), then score
    the best model on the whole val split. Returns the run's metrics."""
    train_data = TokenSplit(tokens, "train", tokenizer.hash)
    val_data = TokenSplit(tokens, "val", tokenizer.hash)
    logger.info("run %s, seed %d: %d tokens", spec.name, spec.seed, spec.tokens)
    result = train(
        spec.model, spec.train, train_data, val_data, work / "model", state_dir=work / "state"
    )
    model = load_model(work / "model", pick_device(spec.train.device))
    score = score_split(model, val_data, tokenizer)
    counts = model.param_counts
    return {
        "seed": spec.seed,
        "val_loss": score.loss,
        "bits_per_byte": score.bits_per_byte,
        "params": counts["total"],
        "params_non_embedding": counts["non_embedding"],
        "tokens": spec.tokens,
        "steps": result.steps,
        "best_step": result.best_step,
        "seconds": round(result.seconds, 2),
    }
