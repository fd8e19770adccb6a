"""Checkpoints: a folder of tensors-only files, written atomically, loaded safely.

    checkpoint/
        model.pt     the model's state_dict: tensors only
        config.json  GPTConfig.to_dict(): enough to rebuild the model
        state.pt     to resume training (optional): optimizer state, RNG states, and the
                     loop's own counters (step, best val loss, sampler position)

Everything loads with `torch.load(weights_only=True)`: plain tensors, numbers, strings,
lists and dicts, never an arbitrary pickle (one could run any code when loaded). So the
RNG states of NumPy and Python are stored as tensors and lists, not as their own objects,
and `save_checkpoint` refuses anything else in `train_state` at save time rather than
at resume time.

Saving is atomic at folder level: the files are written into a temporary sibling folder,
then the old checkpoint is renamed aside, the new one renamed in, and the old one deleted.
A kill at any moment leaves a complete checkpoint, old or new: in the one window where
the folder itself is missing (between the two renames), the old one is complete under
its aside name, and the loaders read it from there (the next save puts it back).

Loading problems (a missing file, a corrupt or truncated file, an arbitrary pickle, a
state_dict that does not fit config.json) are one-line `DataError`s naming the file.
"""

from __future__ import annotations

import json
import pickle
import random
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from nanoforge.atomic import default_mode, write_json
from nanoforge.config import build
from nanoforge.errors import ConfigError, DataError, NanoforgeError
from nanoforge.model.gpt import GPT, GPTConfig

MODEL_FILE = "model.pt"
CONFIG_FILE = "config.json"
STATE_FILE = "state.pt"

STATE_VERSION = 1
"""Layout version of state.pt; bumped when its keys change meaning."""

REWRITE = "re-run training to write it again"


# ------------------------------------------------------------------------ wrappers


def unwrap(model: nn.Module) -> nn.Module:
    """The plain model inside torch.compile (`._orig_mod`) and DDP (`.module`) wrappers.

    Its state_dict keys carry no `_orig_mod.` / `module.` prefixes, so a checkpoint loads
    into a bare GPT whatever wrapped the model in training.
    """
    while True:
        inner = getattr(model, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            inner = getattr(model, "module", None)
        if not isinstance(inner, nn.Module):
            return model
        model = inner


# ----------------------------------------------------------------------------- RNG


def rng_state() -> dict[str, Any]:
    """The global RNG states of torch (CPU, and every CUDA device when available), NumPy
    and Python, as tensors, numbers and lists (so they pass `weights_only=True`).

    These are this process's generators: under DDP each rank has its own.
    """
    name, key, pos, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "torch_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "bit_generator": str(name),
            # uint32 words kept in int64: every value fits, and int64 is a plain tensor type.
            "key": torch.from_numpy(key.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` captured: the next random numbers are the same again.

    CUDA states are restored for the devices this machine has (resuming on fewer GPUs
    restores the first ones), and skipped without CUDA.
    """
    torch.set_rng_state(state["torch"])
    if torch.cuda.is_available():
        for device, cuda_state in enumerate(state["torch_cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state, device)
    np_state = state["numpy"]
    np.random.set_state(
        (
            np_state["bit_generator"],
            np_state["key"].numpy().astype(np.uint32),
            np_state["pos"],
            np_state["has_gauss"],
            np_state["cached_gaussian"],
        )
    )
    py_state = state["python"]
    random.setstate((py_state["version"], tuple(py_state["internal"]), py_state["gauss_next"]))


# ---------------------------------------------------------------------------- save


def save_checkpoint(
    folder: str | Path,
    model: nn.Module,
    config: GPTConfig,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    train_state: dict[str, Any] | None = None,
) -> None:
    """Write `folder` (model.pt, config.json, and state.pt when resuming is possible).

    `model` may be wrapped (torch.compile, DDP): the unwrapped module's tensors are saved.
    state.pt is written when `optimizer` or `train_state` is given; it also holds the RNG
    states of the moment. `train_state` is the loop's own (step, best val loss, sampler
    position...) and must hold only tensors, numbers, strings, None, lists and dicts.
    """
    folder = Path(folder)
    state: dict[str, Any] | None = None
    if optimizer is not None or train_state is not None:
        state = {
            "version": STATE_VERSION,
            "optimizer": optimizer.state_dict() if optimizer is not None else None,
            "rng": rng_state(),
            "train": dict(train_state or {}),
        }
        # Refuse here what weights_only would refuse at resume time, hours later.
        _check_plain(state, "state")

    _finish_interrupted_save(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.new-", dir=folder.parent))
    try:
        torch.save(unwrap(model).state_dict(), tmp / MODEL_FILE)
        write_json(tmp / CONFIG_FILE, config.to_dict())
        if state is not None:
            torch.save(state, tmp / STATE_FILE)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    tmp.chmod(default_mode(directory=True))
    aside = _aside(folder)
    if folder.exists():
        folder.rename(aside)
    tmp.rename(folder)
    shutil.rmtree(aside, ignore_errors=True)


def _aside(folder: Path) -> Path:
    """Where the previous checkpoint waits while the new one is renamed in."""
    return folder.with_name(f".{folder.name}.old")


def _finish_interrupted_save(folder: Path) -> None:
    # A kill between the two renames leaves only the aside copy: it is complete, put it
    # back. A kill after them leaves a stale aside copy, and any kill while writing leaves
    # a partial `.new-` folder: both are garbage. (One writer per checkpoint is assumed.)
    aside = _aside(folder)
    if aside.exists():
        if folder.exists():
            shutil.rmtree(aside)
        else:
            aside.rename(folder)
    for partial in folder.parent.glob(f".{folder.name}.new-*"):
        shutil.rmtree(partial, ignore_errors=True)


def _check_plain(obj: Any, where: str) -> None:
    # Exact types: subclasses such as numpy.float64 (a float) pickle as their own class.
    if obj is None or type(obj) in (bool, int, float, str) or isinstance(obj, Tensor):
        return
    if isinstance(obj, list | tuple):
        for i, item in enumerate(obj):
            _check_plain(item, f"{where}[{i}]")
        return
    if isinstance(obj, dict):
        for key, value in obj.items():
            if not isinstance(key, str | int):
                raise TypeError(f"{where} has a key of type {type(key).__name__}: {key!r}")
            _check_plain(value, f"{where}.{key}")
        return
    raise TypeError(
        f"{where} is a {type(obj).__name__}, which a weights_only checkpoint cannot hold; "
        f"store it as a tensor, number, string, list or dict"
    )


# ---------------------------------------------------------------------------- load


def load_model(folder: str | Path, device: str | torch.device = "cpu") -> GPT:
    """Rebuild the GPT from config.json and fill it from model.pt, in eval mode.

    A bad config.json is a `ConfigError` naming the file and key; anything wrong with the
    files otherwise is a `DataError`.
    """
    folder = _existing(Path(folder))
    config = _read_config(folder / CONFIG_FILE)
    model = GPT(config).to(device)
    _load_weights(folder / MODEL_FILE, model, device)
    return model.eval()


def load_training_state(
    folder: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None
) -> dict[str, Any]:
    """Resume: load model.pt into `model` (wrapped or not), the optimizer's state into
    `optimizer`, set the RNG states, and return the loop's `train_state` as saved.

    `model` and `optimizer` must be built as for the run that saved the checkpoint (same
    config, same parameter groups); the learning rate in each group is restored too.
    """
    folder = _existing(Path(folder))
    path = folder / STATE_FILE
    if not path.is_file():
        raise DataError(
            f"{path}: not found; this checkpoint holds weights only and cannot be resumed "
            f"(start from scratch, or load it with load_model)"
        )
    # state.pt is read and checked first, so a bad one leaves the model untouched.
    # RNG states must stay CPU tensors; the optimizer moves its state to its parameters.
    state = _torch_load(path, "cpu")
    if not isinstance(state, dict) or not {"version", "optimizer", "rng", "train"} <= set(state):
        raise DataError(f"{path}: not a training state (missing keys); {REWRITE}")
    if state["version"] != STATE_VERSION:
        raise DataError(
            f"{path}: training state version {state['version']!r}, this code reads "
            f"{STATE_VERSION}; resume with the code that wrote it, or start from scratch"
        )
    first_param = next(iter(unwrap(model).parameters()), None)
    device = first_param.device if first_param is not None else torch.device("cpu")
    _load_weights(folder / MODEL_FILE, unwrap(model), device)
    if optimizer is not None:
        if state["optimizer"] is None:
            raise DataError(f"{path}: holds no optimizer state; start from scratch")
        try:
            optimizer.load_state_dict(state["optimizer"])
        except (ValueError, KeyError, TypeError, RuntimeError) as err:
            raise DataError(
                f"{path}: optimizer state does not fit this optimizer ({_first_line(err)}); "
                f"build it as in the run that saved it, or start from scratch"
            ) from None
    try:
        set_rng_state(state["rng"])
    except (ValueError, KeyError, TypeError, RuntimeError, AttributeError) as err:
        raise DataError(
            f"{path}: RNG states cannot be restored ({_first_line(err)}); {REWRITE}"
        ) from None
    return state["train"]


def peek_train_state(folder: str | Path) -> dict[str, Any] | None:
    """The loop's own `train_state` of a checkpoint, loading nothing else; None when there
    is none or it cannot be read (corrupt, foreign, old: all mean "not this run's")."""
    try:
        state = _torch_load(_existing(Path(folder)) / STATE_FILE, "cpu")
        return dict(state["train"])
    except (NanoforgeError, KeyError, TypeError):
        return None


def _existing(folder: Path) -> Path:
    if folder.is_dir():
        return folder
    aside = _aside(folder)
    if aside.is_dir():  # a save was killed between its two renames: the old one is whole
        return aside
    raise DataError(f"{folder}: no checkpoint folder here; check the path or train first")


def _read_config(path: Path) -> GPTConfig:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: not found; the checkpoint is incomplete, {REWRITE}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: not readable JSON ({_first_line(err)}); {REWRITE}") from None
    try:
        return build(GPTConfig, raw, GPTConfig.SECTION)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


def _torch_load(path: Path, device: str | torch.device) -> Any:
    if not path.is_file():
        raise DataError(f"{path}: not found; the checkpoint is incomplete, {REWRITE}")
    try:
        with warnings.catch_warnings():
            # Foreign pickles draw protocol warnings before they are refused; the refusal
            # below is the message that matters.
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError:
        raise DataError(
            f"{path}: holds something other than tensors (or is damaged) and is never loaded "
            f"for safety; {REWRITE}"
        ) from None
    except Exception as err:  # torch reports corrupt files as many types; all mean the same
        raise DataError(f"{path}: corrupt or truncated ({type(err).__name__}); {REWRITE}") from None


def _load_weights(path: Path, model: nn.Module, device: str | torch.device) -> None:
    tensors = _torch_load(path, device)
    if not isinstance(tensors, dict) or not all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in tensors.items()
    ):
        raise DataError(f"{path}: not a state_dict of named tensors; {REWRITE}")
    # Compare ourselves: load_state_dict's own report is many lines.
    expected = model.state_dict()
    problems = [f"missing {k}" for k in expected if k not in tensors]
    problems += [f"unexpected {k}" for k in tensors if k not in expected]
    problems += [
        f"{k} is {tuple(v.shape)}, expected {tuple(expected[k].shape)}"
        for k, v in tensors.items()
        if k in expected and v.shape != expected[k].shape
    ]
    if problems:
        more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
        raise DataError(
            f"{path}: does not fit the model of config.json ({'; '.join(problems[:3])}{more}); "
            f"{REWRITE}"
        )
    model.load_state_dict(tensors, strict=True)


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0][:200] if lines else type(err).__name__
