"""Checkpoints: exact round trips, tensors-only files, atomic saves, one-line errors."""

from __future__ import annotations

import json
import os
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from nanoforge.errors import ConfigError, DataError
from nanoforge.model.gpt import GPT, GPTConfig
from nanoforge.train.checkpoint import (
    load_model,
    load_training_state,
    rng_state,
    save_checkpoint,
    set_rng_state,
    unwrap,
)
from nanoforge.train.schedule import make_optimizer

TINY = GPTConfig(vocab_size=16, block_size=8, n_layer=2, n_head=2, n_embd=8)


def make(config: GPTConfig = TINY, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(config)


def batch(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    idx = torch.randint(TINY.vocab_size, (4, TINY.block_size), generator=generator)
    return idx, torch.roll(idx, -1, dims=1)


def optimizer_for(model: nn.Module) -> torch.optim.AdamW:
    return make_optimizer(model, lr=1e-2, weight_decay=0.1, betas=(0.9, 0.95), device_type="cpu")


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, seed: int) -> None:
    _, loss = model(*batch(seed))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def error_line(kind: type[Exception], fn: Any, *args: Any) -> str:
    with pytest.raises(kind) as info:
        fn(*args)
    message = str(info.value)
    assert "\n" not in message
    return message


class Wrapper(nn.Module):
    """Stands in for DDP (`.module`) or torch.compile (`._orig_mod`)."""

    def __init__(self, model: nn.Module, attribute: str) -> None:
        super().__init__()
        setattr(self, attribute, model)


# ----------------------------------------------------------------------- round trip


def test_save_then_load_gives_identical_tensors_and_outputs(tmp_path: Path) -> None:
    model = make().eval()
    save_checkpoint(tmp_path / "ckpt", model, TINY)
    loaded = load_model(tmp_path / "ckpt")
    assert loaded.config == TINY
    assert not loaded.training
    original = model.state_dict()
    assert loaded.state_dict().keys() == original.keys()
    for key, tensor in loaded.state_dict().items():
        assert torch.equal(tensor, original[key]), key
    idx, _ = batch()
    assert torch.equal(loaded(idx)[0], model(idx)[0])
    assert loaded.lm_head.weight is loaded.transformer.wte.weight  # still tied


def test_files_are_tensors_only_and_config_json_is_the_config(tmp_path: Path) -> None:
    model = make()
    save_checkpoint(tmp_path / "ckpt", model, TINY, optimizer=optimizer_for(model))
    tensors = torch.load(tmp_path / "ckpt" / "model.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in tensors.values())
    state = torch.load(tmp_path / "ckpt" / "state.pt", weights_only=True)
    assert {"optimizer", "rng", "train"} <= set(state)
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text(encoding="utf-8"))
    assert config == TINY.to_dict()
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
        "config.json",
        "model.pt",
        "state.pt",
    ]


def test_weights_only_checkpoint_has_no_state_file(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "ckpt", make(), TINY)
    assert not (tmp_path / "ckpt" / "state.pt").exists()
    message = error_line(DataError, load_training_state, tmp_path / "ckpt", make(), None)
    assert "state.pt: not found" in message


@pytest.mark.parametrize("attribute", ["module", "_orig_mod"])
def test_wrapped_models_are_saved_without_prefixes(tmp_path: Path, attribute: str) -> None:
    model = make()
    wrapped = Wrapper(Wrapper(model, attribute), "module")
    assert unwrap(wrapped) is model
    assert all(k.startswith(("module.", "_orig_mod.")) for k in wrapped.state_dict())
    save_checkpoint(tmp_path / "ckpt", wrapped, TINY)
    tensors = torch.load(tmp_path / "ckpt" / "model.pt", weights_only=True)
    assert tensors.keys() == model.state_dict().keys()
    load_model(tmp_path / "ckpt")


def test_unwrap_leaves_a_plain_model_alone() -> None:
    model = make()
    assert unwrap(model) is model


# ----------------------------------------------------------------------------- RNG


def draw() -> tuple[torch.Tensor, np.ndarray, list[float]]:
    return (
        torch.rand(5),
        np.random.randn(5),  # normals: exercises NumPy's cached gaussian
        [random.random() for _ in range(3)] + [random.gauss(0, 1)],
    )


def assert_same_draws(a: tuple[Any, ...], b: tuple[Any, ...]) -> None:
    assert torch.equal(a[0], b[0])
    assert np.array_equal(a[1], b[1])
    assert a[2] == b[2]


def test_rng_capture_and_restore_reproduce_the_next_numbers() -> None:
    torch.manual_seed(3)
    np.random.seed(3)
    random.seed(3)
    np.random.randn(1)  # leaves a cached gaussian behind
    random.gauss(0, 1)  # leaves gauss_next set
    state = rng_state()
    first = draw()
    draw()
    set_rng_state(state)
    assert_same_draws(draw(), first)


def test_rng_states_survive_state_pt(tmp_path: Path) -> None:
    model = make()
    np.random.randn(3)
    save_checkpoint(tmp_path / "ckpt", model, TINY, train_state={"step": 7})
    first = draw()
    draw()
    assert load_training_state(tmp_path / "ckpt", model, None) == {"step": 7}
    assert_same_draws(draw(), first)


# ----------------------------------------------------------------------- optimizer


def test_resumed_optimizer_takes_bitwise_the_same_next_step(tmp_path: Path) -> None:
    model = make()
    optimizer = optimizer_for(model)
    for seed in range(3):
        train_step(model, optimizer, seed)
    train_state = {"step": 3, "best_val_loss": 2.5, "sampler": {"epoch": 0, "offsets": [1, 2]}}
    save_checkpoint(tmp_path / "ckpt", model, TINY, optimizer=optimizer, train_state=train_state)
    train_step(model, optimizer, seed=3)

    resumed = make(seed=99)  # different init: everything must come from the checkpoint
    resumed_optimizer = optimizer_for(resumed)
    assert load_training_state(tmp_path / "ckpt", resumed, resumed_optimizer) == train_state
    train_step(resumed, resumed_optimizer, seed=3)

    for (name, a), b in zip(model.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_training_state_loads_into_a_wrapped_model(tmp_path: Path) -> None:
    model = make()
    save_checkpoint(tmp_path / "ckpt", model, TINY, optimizer=optimizer_for(model))
    resumed = make(seed=5)
    wrapped = Wrapper(resumed, "_orig_mod")
    load_training_state(tmp_path / "ckpt", wrapped, optimizer_for(wrapped))
    assert torch.equal(resumed.transformer.wte.weight, model.transformer.wte.weight)


def test_optimizer_of_another_shape_is_a_data_error(tmp_path: Path) -> None:
    model = make()
    save_checkpoint(tmp_path / "ckpt", model, TINY, optimizer=optimizer_for(model))
    single_group = torch.optim.AdamW(model.parameters())
    message = error_line(DataError, load_training_state, tmp_path / "ckpt", model, single_group)
    assert "optimizer state does not fit" in message


def test_train_state_that_weights_only_would_refuse_is_refused_at_save(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"state\.train\.best is a float64"):
        save_checkpoint(tmp_path / "ckpt", make(), TINY, train_state={"best": np.float64(1.0)})
    assert not (tmp_path / "ckpt").exists()


# -------------------------------------------------------------------------- atomic


def test_a_failed_save_leaves_the_previous_checkpoint_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = make(seed=0)
    save_checkpoint(tmp_path / "ckpt", old, TINY, train_state={"step": 1})
    real_save = torch.save

    def save_model_then_die(obj: Any, path: Any, *args: Any, **kwargs: Any) -> None:
        if Path(path).name != "model.pt":
            raise OSError("disk full")
        real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save_model_then_die)
    new = make(seed=1)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path / "ckpt", new, TINY, train_state={"step": 2})
    monkeypatch.undo()

    assert os.listdir(tmp_path) == ["ckpt"]  # no temporary folder left behind
    loaded = load_model(tmp_path / "ckpt")
    assert torch.equal(loaded.transformer.wte.weight, old.transformer.wte.weight)
    assert load_training_state(tmp_path / "ckpt", make(), None) == {"step": 1}


def test_saving_over_a_checkpoint_replaces_it(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "ckpt", make(seed=0), TINY, train_state={"step": 1})
    new = make(seed=1)
    save_checkpoint(tmp_path / "ckpt", new, TINY)
    assert os.listdir(tmp_path) == ["ckpt"]
    assert not (tmp_path / "ckpt" / "state.pt").exists()  # nothing of the old one remains
    assert torch.equal(load_model(tmp_path / "ckpt").lm_head.weight, new.lm_head.weight)


def test_a_kill_between_the_renames_leaves_the_old_checkpoint_readable(tmp_path: Path) -> None:
    old = make(seed=0)
    save_checkpoint(tmp_path / "ckpt", old, TINY)
    # The state a kill leaves after `ckpt -> .ckpt.old` and before the new one is renamed in.
    (tmp_path / "ckpt").rename(tmp_path / ".ckpt.old")
    (tmp_path / ".ckpt.new-x").mkdir()
    (tmp_path / ".ckpt.new-x" / "model.pt").write_bytes(b"half")
    loaded = load_model(tmp_path / "ckpt")
    assert torch.equal(loaded.transformer.wte.weight, old.transformer.wte.weight)

    new = make(seed=1)
    save_checkpoint(tmp_path / "ckpt", new, TINY)
    assert os.listdir(tmp_path) == ["ckpt"]
    assert torch.equal(load_model(tmp_path / "ckpt").lm_head.weight, new.lm_head.weight)


# -------------------------------------------------------------------------- errors


def _mark(path: str) -> None:
    Path(path).write_text("code ran", encoding="utf-8")


class Malicious:
    """Unpickling it would run `_mark`: a stand-in for arbitrary code in a pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (_mark, (str(self.marker),))


@pytest.fixture
def ckpt(tmp_path: Path) -> Path:
    save_checkpoint(tmp_path / "ckpt", make(), TINY, optimizer=optimizer_for(make()))
    return tmp_path / "ckpt"


def test_truncated_model_pt_is_one_data_error_line(ckpt: Path) -> None:
    data = (ckpt / "model.pt").read_bytes()
    (ckpt / "model.pt").write_bytes(data[: len(data) // 2])
    message = error_line(DataError, load_model, ckpt)
    assert message.startswith(f"{ckpt / 'model.pt'}: corrupt or truncated")
    assert "re-run training" in message


@pytest.mark.parametrize("content", [b"", bytes(range(256)) * 4], ids=["empty", "random"])
def test_garbage_model_pt_is_one_data_error_line(ckpt: Path, content: bytes) -> None:
    (ckpt / "model.pt").write_bytes(content)
    assert error_line(DataError, load_model, ckpt).startswith(f"{ckpt / 'model.pt'}: ")


@pytest.mark.parametrize("how", ["torch.save", "pickle.dump"])
def test_a_pickle_of_arbitrary_objects_is_refused_unrun(ckpt: Path, how: str) -> None:
    marker = ckpt.parent / "marker"
    payload = {"transformer.wte.weight": Malicious(marker)}
    if how == "torch.save":
        torch.save(payload, ckpt / "model.pt")
    else:
        (ckpt / "model.pt").write_bytes(pickle.dumps(payload))
    message = error_line(DataError, load_model, ckpt)
    assert "holds something other than tensors" in message
    assert not marker.exists()


def test_a_pickle_in_state_pt_is_refused_unrun(ckpt: Path) -> None:
    marker = ckpt.parent / "marker"
    torch.save({"train": Malicious(marker)}, ckpt / "state.pt")
    model = make()
    message = error_line(DataError, load_training_state, ckpt, model, optimizer_for(model))
    assert message.startswith(f"{ckpt / 'state.pt'}: holds something other than tensors")
    assert not marker.exists()


def test_model_pt_that_is_not_a_state_dict_is_a_data_error(ckpt: Path) -> None:
    torch.save([torch.zeros(2)], ckpt / "model.pt")
    assert "not a state_dict" in error_line(DataError, load_model, ckpt)


def test_tensors_that_do_not_fit_config_json_are_named(ckpt: Path) -> None:
    config = TINY.to_dict() | {"vocab_size": 32, "pos_emb": False}
    (ckpt / "config.json").write_text(json.dumps(config), encoding="utf-8")
    message = error_line(DataError, load_model, ckpt)
    assert "does not fit the model of config.json" in message
    assert "transformer.wte.weight is (16, 8), expected (32, 8)" in message
    assert "unexpected transformer.wpe.weight" in message


def test_bad_config_value_is_a_config_error_naming_file_and_key(ckpt: Path) -> None:
    config = TINY.to_dict() | {"n_embd": 130, "n_head": 4}
    (ckpt / "config.json").write_text(json.dumps(config), encoding="utf-8")
    message = error_line(ConfigError, load_model, ckpt)
    assert message == (
        f"{ckpt / 'config.json'}: model.n_embd must be divisible by model.n_head (got 130 and 4)"
    )


def test_config_json_that_is_not_json_is_a_data_error(ckpt: Path) -> None:
    (ckpt / "config.json").write_text("{", encoding="utf-8")
    assert "not readable JSON" in error_line(DataError, load_model, ckpt)


@pytest.mark.parametrize("missing", ["model.pt", "config.json"])
def test_missing_files_are_named(ckpt: Path, missing: str) -> None:
    (ckpt / missing).unlink()
    message = error_line(DataError, load_model, ckpt)
    assert message.startswith(f"{ckpt / missing}: not found")


def test_missing_folder_is_a_data_error(tmp_path: Path) -> None:
    message = error_line(DataError, load_model, tmp_path / "nowhere")
    assert message.startswith(f"{tmp_path / 'nowhere'}: no checkpoint folder")


def test_saved_files_and_folders_get_ordinary_permissions_not_temporary_ones(
    tmp_path: Path,
) -> None:
    old_mask = os.umask(0o022)
    try:
        save_checkpoint(tmp_path / "ckpt", make(), TINY)
    finally:
        os.umask(old_mask)
    assert (tmp_path / "ckpt").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "ckpt/config.json").stat().st_mode & 0o777 == 0o644
