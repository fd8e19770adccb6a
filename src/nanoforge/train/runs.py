"""Setting up a training run from params: shared by the pretrain, ablate, scale and
finetune stages, so that each stage script stays a few lines."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from dvclive import Live

from nanoforge.config import build
from nanoforge.errors import ConfigError
from nanoforge.model.gpt import GPTConfig

MetricsLog = Callable[[int, dict[str, float]], None]

TRAIN_SUMMARY = "train.json"
"""The file in a model folder that holds its training run's summary (`TrainResult`)."""


def model_config(raw: Mapping[str, object], vocab_size: int) -> GPTConfig:
    """The `model` params as a GPTConfig, its vocabulary taken from the tokenizer.

    `model.vocab_size` may be left out of params.yaml; if it is there, it must agree
    with the tokenizer (a model cannot read ids its embedding table does not have).
    """
    given = raw.get("vocab_size", vocab_size)
    if given != vocab_size:
        raise ConfigError(
            f"model.vocab_size is {given} but the tokenizer has {vocab_size} ids; "
            "remove model.vocab_size from params.yaml (it is taken from the tokenizer)"
        )
    return build(GPTConfig, {**raw, "vocab_size": vocab_size}, "model")


@contextmanager
def dvclive_log(folder: str | Path) -> Iterator[tuple[Live, MetricsLog]]:
    """A dvclive logger writing per-eval curves under `folder`, and a `log(step, metrics)`.

    Params are not logged (DVC already tracks params.yaml), no dvc.yaml is written (the
    project's dvc.yaml declares the plots) and no experiment is created by dvclive.
    """
    with Live(str(folder), dvcyaml=False, save_dvc_exp=False, report=None) as live:

        def log(step: int, metrics: dict[str, float]) -> None:
            live.step = step
            for name, value in metrics.items():
                live.log_metric(name, value)
            live.next_step()

        yield live, log
