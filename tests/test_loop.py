"""The training loop: it learns, accumulates exactly, resumes bit for bit, stops cleanly."""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from nanoforge.config import TrainConfig
from nanoforge.data.memmap import CorpusMeta, SplitMeta, TokenSplit, write_token_file
from nanoforge.errors import ConfigError, DataError
from nanoforge.model.gpt import GPT, GPTConfig
from nanoforge.train import device as device_module
from nanoforge.train import loop
from nanoforge.train.checkpoint import load_model, load_training_state
from nanoforge.train.device import measure_peak_flops, pick_device
from nanoforge.train.loop import (
    TRAIN_EVAL_STEP0,
    TrainingError,
    TrainingInterrupted,
    accumulate_gradients,
    train,
)

HASH = "0123456789abcdef"
VOCAB = 64
PERIOD = 8


def tiny_model(dropout: float = 0.0, block_size: int = 16) -> GPTConfig:
    return GPTConfig(
        vocab_size=VOCAB, block_size=block_size, n_layer=2, n_head=2, n_embd=32, dropout=dropout
    )


def tiny_train(**overrides: Any) -> TrainConfig:
    values: dict[str, Any] = dict(
        max_steps=20, batch_size=8, lr=1e-2, min_lr=1e-3, warmup_steps=2, eval_every=5,
        eval_batches=2, checkpoint_every=5, seed=7, device="cpu",
    )  # fmt: skip
    return TrainConfig(**{**values, **overrides})


def make_corpus(folder: Path, train_tokens: int = 4000, val_tokens: int = 1000) -> Path:
    """A learnable corpus: one random 8-token pattern repeated, so context predicts it."""
    pattern = np.random.default_rng(0).integers(0, VOCAB, size=PERIOD)
    ids = np.tile(pattern, (train_tokens + val_tokens) // PERIOD + 1).tolist()
    folder.mkdir(parents=True, exist_ok=True)
    dtype = np.dtype(np.uint16)
    splits = {}
    for name, part in (("train", ids[:train_tokens]), ("val", ids[train_tokens:][:val_tokens])):
        count = write_token_file(folder / f"{name}.bin", [part], dtype)
        splits[name] = SplitMeta(count, 1, count)
    CorpusMeta("uint16", VOCAB, HASH, VOCAB - 1, splits).save(folder)
    return folder


def splits(folder: Path) -> tuple[TokenSplit, TokenSplit]:
    return TokenSplit(folder, "train", HASH), TokenSplit(folder, "val", HASH)


def tensors(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)


def assert_same_tensors(a: Path, b: Path) -> None:
    left, right = tensors(a), tensors(b)
    assert left.keys() == right.keys()
    for key in left:
        assert torch.equal(left[key], right[key]), key


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return make_corpus(tmp_path / "tokens")


# ---------------------------------------------------------------------- learning


def test_loss_falls_far_below_chance_on_a_learnable_sequence(corpus: Path, tmp_path: Path) -> None:
    logged: list[tuple[int, dict[str, float]]] = []
    result = train(
        tiny_model(),
        tiny_train(max_steps=120, eval_every=40, warmup_steps=10),
        *splits(corpus),
        tmp_path / "out",
        state_dir=tmp_path / "state",
        log=lambda step, metrics: logged.append((step, metrics)),
    )
    chance = math.log(VOCAB)
    assert result.steps == 120
    assert result.val_loss < 0.25 * chance and result.train_loss < 0.25 * chance
    assert [step for step, _ in logged] == [40, 80, 120]
    assert logged[0][1]["val_loss"] > result.val_loss
    assert set(logged[-1][1]) == {"train_loss", "val_loss", "lr", "tokens_per_s", "mfu"}
    assert result.tokens_per_s > 0 and result.mfu is not None and 0 < result.mfu < 1


def test_same_seed_gives_bitwise_the_same_weights(corpus: Path, tmp_path: Path) -> None:
    cfg = tiny_train(max_steps=6, resume="never")
    for run in ("a", "b"):
        train(tiny_model(dropout=0.1), cfg, *splits(corpus), tmp_path / run / "out",
              state_dir=tmp_path / run / "state")  # fmt: skip
    assert_same_tensors(tmp_path / "a/state/model.pt", tmp_path / "b/state/model.pt")


# ----------------------------------------------------------- gradient accumulation


def test_two_micro_batches_give_the_gradient_of_one_double_batch(corpus: Path) -> None:
    train_data, _ = splits(corpus)
    x, y = train_data.batch(step=0, batch_size=8, block_size=16, seed=1)
    whole = [(torch.from_numpy(x), torch.from_numpy(y))]
    halves = [(torch.from_numpy(x[:4]), torch.from_numpy(y[:4])),
              (torch.from_numpy(x[4:]), torch.from_numpy(y[4:]))]  # fmt: skip
    grads, losses = [], []
    for batches in (whole, halves):
        torch.manual_seed(0)
        model = GPT(tiny_model())
        losses.append(accumulate_gradients(model, batches, torch.device("cpu")))
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    assert losses[0] == pytest.approx(losses[1], abs=1e-6)
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], atol=1e-6, rtol=1e-5)


class RecordingSplit:
    """A TokenSplit that remembers which training batches were asked for."""

    def __init__(self, inner: TokenSplit) -> None:
        self.inner, self.meta, self.steps = inner, inner.meta, []

    def __len__(self) -> int:
        return len(self.inner)

    def identity(self) -> dict[str, object]:
        return self.inner.identity()

    def batch(self, step: int, batch_size: int, block_size: int, seed: int) -> Any:
        if step < TRAIN_EVAL_STEP0:  # the fixed train-loss batches lie beyond
            self.steps.append((step, batch_size, seed))
        return self.inner.batch(step, batch_size, block_size, seed)


def test_step_s_reads_micro_batches_s_times_accum_plus_k(corpus: Path, tmp_path: Path) -> None:
    train_data, val_data = splits(corpus)
    recorder = RecordingSplit(train_data)
    cfg = tiny_train(max_steps=3, grad_accum=2, batch_size=4, warmup_steps=1)
    train(tiny_model(), cfg, recorder, val_data, tmp_path / "out", state_dir=tmp_path / "state")
    # The first request is the up-front block-size check.
    assert recorder.steps[1:] == [(i, 4, cfg.seed) for i in range(6)]


# ------------------------------------------------------------------------ resume

KILLABLE = """
import json, sys, time
from dataclasses import asdict
from pathlib import Path
from nanoforge.config import TrainConfig
from nanoforge.data.memmap import TokenSplit
from nanoforge.model.gpt import GPTConfig
from nanoforge.train.loop import train

corpus, state, out, model_json, train_json, hang_at, marker, token_hash = sys.argv[1:]

def log(step, metrics):
    if step == int(hang_at):
        Path(marker).touch()
        time.sleep(600)  # wait here to be SIGKILLed

result = train(
    GPTConfig(**json.loads(model_json)), TrainConfig(**json.loads(train_json)),
    TokenSplit(corpus, "train", token_hash), TokenSplit(corpus, "val", token_hash),
    Path(out), state_dir=Path(state), log=log,
)
print(json.dumps(asdict(result)))
"""


def run_killable(
    corpus: Path, folder: Path, model_cfg: GPTConfig, cfg: TrainConfig, hang_at: int
) -> subprocess.Popen[str]:
    args = [corpus, folder / "state", folder / "out", json.dumps(model_cfg.to_dict()),
            json.dumps(asdict(cfg)), hang_at, folder / "hanging", HASH]  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-c", KILLABLE, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigkilled_run_resumes_in_a_new_process_bit_for_bit(corpus: Path, tmp_path: Path) -> None:
    n = 4
    model_cfg = tiny_model(dropout=0.1)  # dropout draws from the RNG the state restores
    cfg = tiny_train(max_steps=2 * n, checkpoint_every=n, eval_every=1)
    run = tmp_path / "run"

    # A: hangs in log() after step n + 1, when the state of step n is on disk; killed there.
    a = run_killable(corpus, run, model_cfg, cfg, hang_at=n + 1)
    deadline = time.monotonic() + 60
    while not (run / "hanging").exists():
        assert a.poll() is None, a.communicate()[1]
        assert time.monotonic() < deadline, "process A never reached step n + 1"
        time.sleep(0.05)
    a.kill()  # SIGKILL: no handler runs
    a.wait()
    assert a.returncode == -signal.SIGKILL
    saved = load_training_state(run / "state", GPT(model_cfg), None)
    assert saved["step"] == n

    # B: a fresh process resumes from step n and finishes.
    b = run_killable(corpus, run, model_cfg, cfg, hang_at=-1)
    stdout, stderr = b.communicate(timeout=120)
    assert b.returncode == 0, stderr
    resumed = json.loads(stdout.strip().splitlines()[-1])

    # C: the same run without interruption.
    whole = train(model_cfg, cfg, *splits(corpus), tmp_path / "whole/out",
                  state_dir=tmp_path / "whole/state")  # fmt: skip

    assert_same_tensors(run / "state/model.pt", tmp_path / "whole/state/model.pt")
    assert_same_tensors(run / "out/model.pt", tmp_path / "whole/out/model.pt")
    assert resumed["train_loss"] == whole.train_loss
    assert resumed["val_loss"] == whole.val_loss
    assert (resumed["best_val_loss"], resumed["best_step"]) == (
        whole.best_val_loss,
        whole.best_step,
    )


def test_sigterm_saves_the_state_and_the_run_resumes_exactly(corpus: Path, tmp_path: Path) -> None:
    model_cfg = tiny_model(dropout=0.1)
    cfg = tiny_train(max_steps=8, eval_every=1, checkpoint_every=100)
    before = signal.getsignal(signal.SIGTERM)

    def terminate_at_3(step: int, metrics: dict[str, float]) -> None:
        if step == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(TrainingInterrupted, match=r"SIGTERM received: stopped after step 2") as err:
        train(model_cfg, cfg, *splits(corpus), tmp_path / "out", state_dir=tmp_path / "state",
              log=terminate_at_3)  # fmt: skip
    assert err.value.step == 3 and err.value.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before  # handlers restored
    assert load_training_state(tmp_path / "state", GPT(model_cfg), None)["step"] == 3

    resumed = train(model_cfg, cfg, *splits(corpus), tmp_path / "out",
                    state_dir=tmp_path / "state")  # fmt: skip
    whole = train(model_cfg, cfg, *splits(corpus), tmp_path / "whole/out",
                  state_dir=tmp_path / "whole/state")  # fmt: skip
    assert_same_tensors(tmp_path / "state/model.pt", tmp_path / "whole/state/model.pt")
    assert (resumed.train_loss, resumed.val_loss) == (whole.train_loss, whole.val_loss)


def test_a_state_of_different_params_is_not_resumed(
    corpus: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state, out = tmp_path / "state", tmp_path / "out"
    train(tiny_model(), tiny_train(max_steps=4), *splits(corpus), out, state_dir=state)
    steps: list[int] = []
    with caplog.at_level(logging.WARNING):
        train(tiny_model(), tiny_train(max_steps=4, lr=5e-3), *splits(corpus), out,
              state_dir=state, log=lambda step, _: steps.append(step))  # fmt: skip
    assert "holds no state of this run" in caplog.text
    assert steps == [4]  # trained from step 0 again: the last eval is logged
    fresh = train(tiny_model(), tiny_train(max_steps=4, lr=5e-3, resume="never"),
                  *splits(corpus), tmp_path / "o2", state_dir=tmp_path / "s2")  # fmt: skip
    assert_same_tensors(state / "model.pt", tmp_path / "s2/model.pt")
    assert fresh.best_step == 4
    # Another model shape: its state would not even load; it is ignored just the same.
    wider = GPTConfig(**{**tiny_model().to_dict(), "n_embd": 16})
    assert train(wider, tiny_train(max_steps=4), *splits(corpus), out, state_dir=state).steps == 4


def test_a_state_left_by_other_code_is_not_resumed(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # DVC re-runs a stage whose code changed; a finished state of the old code must not
    # stand in for the new code's result.
    state, out = tmp_path / "state", tmp_path / "out"
    train(tiny_model(), tiny_train(max_steps=4), *splits(corpus), out, state_dir=state)
    monkeypatch.setattr(loop, "code_version", lambda: "changed-code")
    steps: list[int] = []
    with caplog.at_level(logging.WARNING):
        result = train(tiny_model(), tiny_train(max_steps=4), *splits(corpus), out,
                       state_dir=state, log=lambda step, _: steps.append(step))  # fmt: skip
    assert "holds no state of this run" in caplog.text
    assert steps == [4] and result.tokens_per_s > 0  # trained again, not replayed


def test_the_source_hash_changes_with_any_python_file_and_only_with_them(
    tmp_path: Path,
) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "gpt.py").write_text("x = 1\n")
    (tmp_path / "loop.py").write_text("y = 2\n")
    before = loop.source_hash(tmp_path)
    (tmp_path / "notes.txt").write_text("not code")
    assert loop.source_hash(tmp_path) == before
    (tmp_path / "model" / "gpt.py").write_text("x = 2\n")
    assert loop.source_hash(tmp_path) != before
    (tmp_path / "model" / "gpt.py").write_text("x = 1\n")
    assert loop.source_hash(tmp_path) == before  # the content counts, not the edit
    (tmp_path / "model" / "gpt.py").rename(tmp_path / "gpt.py")
    assert loop.source_hash(tmp_path) != before  # so does where a file sits


# -------------------------------------------------------------------- failures


class PoisonedGPT(GPT):
    """A GPT whose weights turn to NaN at its sixth training forward (step 5)."""

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, **kw: Any) -> Any:
        if self.training:
            self.calls = getattr(self, "calls", 0) + 1
            if self.calls == 6:
                with torch.no_grad():
                    self.transformer.wte.weight.fill_(math.nan)
        return super().forward(idx, targets, **kw)


def test_a_nan_loss_stops_training_and_keeps_the_last_good_state(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loop, "GPT", PoisonedGPT)
    cfg = tiny_train(max_steps=10, checkpoint_every=2, eval_every=2)
    state = tmp_path / "state"
    with pytest.raises(TrainingError, match=r"^loss is nan at step 5: training stopped; the last"):
        train(tiny_model(), cfg, *splits(corpus), tmp_path / "out", state_dir=state)
    model = GPT(tiny_model())
    assert load_training_state(state, model, None)["step"] == 4
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert not (tmp_path / "out").exists()  # only a finished run publishes its best model
    best = load_model(tmp_path / "state-best")
    assert all(torch.isfinite(p).all() for p in best.parameters())


def test_data_shorter_than_a_block_fails_before_any_work(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "tokens", train_tokens=4000, val_tokens=10)
    with pytest.raises(DataError, match=r"val\.bin: 10 tokens, fewer than block_size \+ 1"):
        train(tiny_model(), tiny_train(), *splits(corpus), tmp_path / "out",
              state_dir=tmp_path / "state")  # fmt: skip
    assert not (tmp_path / "out").exists() and not (tmp_path / "state").exists()


# ------------------------------------------------------------------ best model


def test_the_best_model_by_val_loss_is_saved_and_loadable(corpus: Path, tmp_path: Path) -> None:
    val_losses: dict[int, float] = {}
    result = train(
        tiny_model(),
        tiny_train(max_steps=30, eval_every=5),
        *splits(corpus),
        tmp_path / "out",
        state_dir=tmp_path / "state",
        log=lambda step, metrics: val_losses.update({step: metrics["val_loss"]}),
    )
    assert (tmp_path / "out/model.pt").is_file() and (tmp_path / "out/config.json").is_file()
    best_step = min(val_losses, key=val_losses.__getitem__)
    assert (result.best_step, result.best_val_loss) == (best_step, val_losses[best_step])
    model = load_model(tmp_path / "out")
    assert model.config == tiny_model()
    _, val_data = splits(corpus)
    losses, counts = [], []
    with torch.no_grad():
        for x, y in val_data.eval_batches(8, 16, 2):
            losses.append(model(torch.from_numpy(x), torch.from_numpy(y))[1].item() * y.size)
            counts.append(y.size)
    assert sum(losses) / sum(counts) == pytest.approx(result.best_val_loss, abs=1e-6)


def test_a_resumed_run_publishes_the_best_model_even_if_out_was_deleted(
    corpus: Path, tmp_path: Path
) -> None:
    # DVC deletes a stage's outputs before running it again; the state survives it.
    args = (tiny_model(), tiny_train(max_steps=20, eval_every=5), *splits(corpus))
    first_log: list[tuple[int, dict[str, float]]] = []
    again_log: list[tuple[int, dict[str, float]]] = []
    first = train(*args, tmp_path / "out", state_dir=tmp_path / "state",
                  log=lambda step, m: first_log.append((step, m)))  # fmt: skip
    published = tensors(tmp_path / "out/model.pt")
    shutil.rmtree(tmp_path / "out")
    again = train(*args, tmp_path / "out", state_dir=tmp_path / "state",
                  log=lambda step, m: again_log.append((step, m)))  # fmt: skip
    assert again.best_val_loss == first.best_val_loss
    assert again.tokens_per_s > 0  # the speed measured by the run that trained
    # The logged curves went with the outputs too: the saved history is replayed whole.
    assert [s for s, _ in again_log] == [s for s, _ in first_log] == [5, 10, 15, 20]
    assert [m["val_loss"] for _, m in again_log] == [m["val_loss"] for _, m in first_log]
    again_published = tensors(tmp_path / "out/model.pt")
    assert all(torch.equal(published[k], again_published[k]) for k in published)


# ------------------------------------------------ monitored splits, early stopping


def make_noise_split(folder: Path, tokens: int = 1000) -> TokenSplit:
    """A val split of random tokens: what the learnable pattern teaches only hurts it."""
    folder.mkdir(parents=True, exist_ok=True)
    ids = np.random.default_rng(1).integers(0, VOCAB, size=tokens).tolist()
    count = write_token_file(folder / "val.bin", [ids], np.dtype(np.uint16))
    CorpusMeta("uint16", VOCAB, HASH, VOCAB - 1, {"val": SplitMeta(count, 1, count)}).save(folder)
    return TokenSplit(folder, "val", HASH)


def test_monitored_splits_are_logged_at_every_evaluation_without_choosing_the_best(
    corpus: Path, tmp_path: Path
) -> None:
    logged: list[dict[str, float]] = []
    noise = make_noise_split(tmp_path / "noise")
    result = train(
        tiny_model(), tiny_train(max_steps=20, eval_every=10), *splits(corpus), tmp_path / "out",
        state_dir=tmp_path / "state", monitor={"noise": noise},
        log=lambda step, metrics: logged.append(metrics),
    )  # fmt: skip
    assert len(logged) == 2
    assert all(m["noise_loss"] > m["val_loss"] for m in logged)  # random text is unlearnable
    assert result.best_val_loss == min(m["val_loss"] for m in logged)


def test_training_stops_once_val_loss_has_not_improved_for_patience_evaluations(
    corpus: Path, tmp_path: Path
) -> None:
    train_data, _ = splits(corpus)
    val_losses: list[float] = []
    cfg = tiny_train(max_steps=100, eval_every=5, patience=2)
    args = (tiny_model(), cfg, train_data, make_noise_split(tmp_path / "noise"), tmp_path / "out")
    result = train(*args, state_dir=tmp_path / "state",
                   log=lambda step, m: val_losses.append(m["val_loss"]))  # fmt: skip
    assert result.stopped_early and result.steps < cfg.max_steps
    assert result.steps == result.best_step + cfg.patience * cfg.eval_every
    assert min(val_losses[-cfg.patience :]) >= result.best_val_loss
    # A finished run stays finished: resuming it trains nothing more.
    again = train(*args, state_dir=tmp_path / "state")
    assert (again.steps, again.stopped_early, again.val_loss) == (
        result.steps, True, result.val_loss,
    )  # fmt: skip


# ----------------------------------------------------------------------- device


def test_pick_device() -> None:
    assert pick_device("cpu") == torch.device("cpu")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert pick_device("auto") == torch.device("cpu")
    with pytest.raises(ConfigError) as err:
        pick_device("cuda")
    assert str(err.value) == (
        "train.device is cuda but no CUDA device is available; use auto or cpu"
    )


def test_the_peak_is_the_median_trial_and_leaves_the_global_rng_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Scripted clocks: trials of 0.2, 0.1, 0.25, 10 (a stall) and 0.2 seconds.
    ticks = iter([0.0, 0.2, 1.0, 1.1, 2.0, 2.25, 3.0, 13.0, 14.0, 14.2])
    torch.manual_seed(0)
    expected_draw = torch.rand(3)
    torch.manual_seed(0)
    device_module._peak_flops.cache_clear()
    try:
        with monkeypatch.context() as patch:  # time.perf_counter is global: patched briefly
            patch.setattr(device_module.time, "perf_counter", lambda: next(ticks))
            peak = measure_peak_flops(torch.device("cpu"))
        assert measure_peak_flops(torch.device("cpu")) == peak  # measured once, then cached
    finally:
        device_module._peak_flops.cache_clear()
    assert peak == pytest.approx(2 * 1024**3 * 15 / 0.2)  # neither the burst nor the stall
    assert torch.equal(torch.rand(3), expected_draw)
