"""Experiment runs: params + layered overrides become checked configs, one per seed."""

from __future__ import annotations

import pytest

from nanoforge.config import Overrides, Params, TrainConfig
from nanoforge.errors import ConfigError
from nanoforge.experiments.finetune import replay_runs
from nanoforge.experiments.runs import run_specs

PARAMS = Params(model={"n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 128},
                train=TrainConfig(max_steps=1000, lr=1e-3, batch_size=16))  # fmt: skip


def test_overrides_apply_in_order_and_each_seed_gets_a_run() -> None:
    base = Overrides(model={"n_layer": 2, "n_embd": 64}, train={"max_steps": 300, "lr": 2e-3})
    variant = Overrides(model={"n_head": 8}, train={"lr": 5e-4})
    specs = run_specs(PARAMS, [("ablate.base", base), ("ablate.variants.v", variant)], "v",
                      (1, 2), vocab_size=300)  # fmt: skip
    assert [(s.name, s.seed, s.train.seed) for s in specs] == [("v", 1, 1), ("v", 2, 2)]
    model = specs[0].model
    assert (model.n_layer, model.n_head, model.n_embd, model.block_size) == (2, 8, 64, 128)
    assert model.vocab_size == 300
    assert (specs[0].train.max_steps, specs[0].train.lr, specs[0].train.batch_size) == (
        300, 5e-4, 16,
    )  # fmt: skip
    assert specs[0].tokens == 300 * 16 * 128


def test_a_bad_model_override_names_where_it_came_from() -> None:
    layers = [("scale.base", Overrides()), ("scale.sizes.xs", Overrides(model={"n_embd": 10}))]
    with pytest.raises(ConfigError) as err:
        run_specs(PARAMS, layers, "xs", (1,), vocab_size=300)
    assert str(err.value) == (
        "scale.base.model and scale.sizes.xs.model (overrides of model): model.n_embd must be "
        "divisible by model.n_head (got 10 and 4)"
    )


def test_finetuning_always_trains_a_no_replay_run_beside_the_replay_one() -> None:
    assert replay_runs(0.2) == {"no_replay": 0.0, "replay": 0.2}
