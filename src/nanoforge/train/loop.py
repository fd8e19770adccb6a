"""The training loop: one function, `train`, used by pretrain, ablate, scale and finetune.

One optimizer step `s` (0-based) is:

    for k in range(grad_accum):                      # micro-batches
        x, y = train_data.batch(step=(s * grad_accum + k) * world_size + rank, seed=cfg.seed)
        (loss(x, y) / grad_accum).backward()         # gradients of the mean over micro-batches
    clip the gradient's global norm to grad_clip (when > 0)
    lr = lr_at(s, ...) on every parameter group; AdamW step; zero the gradients

The data order is a pure function of the step, and the only other randomness (dropout)
comes from torch's global generator, which the training state saves and restores. So a
run stopped at a checkpoint and resumed in a fresh process ends with bitwise the same
weights as one that never stopped (on the same machine).

After every `eval_every` steps and at the end, the loss is averaged over fixed batches:
the first `eval_batches` windows of val, and `eval_batches` training batches drawn from a
step range training never reaches (so measuring does not move the training stream). The
best model by val loss is saved beside the state (`<state_dir>-best`) each time it improves
and published to `out` (model.pt + config.json) when training ends. Splits passed as
`monitor` are measured at the same time, like val, without choosing the best model
(finetuning watches the general corpus it may forget). With `patience` > 0, training stops
early once val loss has not improved for that many evaluations in a row.

The training state (weights, optimizer, RNG, step, best val loss and a fingerprint of
everything that shapes the run: params, data, the library's code, torch's version) is
saved to `state_dir` every `checkpoint_every` steps, at the end, and when SIGTERM or
SIGINT arrives (at the next step boundary, then `TrainingInterrupted` is raised). With
`resume: auto`, a state whose fingerprint matches is continued; any other state is
ignored with a warning.

Throughput: tokens/s counts only time spent in training steps (not evaluation or
checkpoints). MFU is `flops_per_token * tokens/s / peak`, where the peak FLOP/s is
measured once per process and device by `measure_peak_flops`.

Distributed (DDP, under `torchrun`; see `nanoforge.train.distributed`): with
`world_size > 1` the process group must already be initialised, and each of the
`world_size` processes runs this same function with its own `rank`:

- data: rank r reads micro-batch `(s * grad_accum + k) * world_size + r`, so the ranks
  share nothing and together read the stream of one process with `grad_accum *
  world_size` micro-batches (2 ranks x 1 micro-batch read 2s and 2s+1, exactly what 1 rank
  x 2 micro-batches reads);
- gradients: the model is wrapped in DistributedDataParallel; each rank divides its loss
  by `grad_accum`, DDP averages over ranks, so the update is that of one process with the
  same global batch. Gradients are all-reduced on the last micro-batch only (`no_sync`
  for the others);
- agreement: the step's loss is averaged over ranks (together with "did a stop signal
  arrive") before the non-finite check and the stop decision, so every rank raises or
  stops at the same step; evaluation batches are split among ranks and the loss sums
  all-reduced, so every rank sees the same val loss;
- randomness: in DDP mode each rank re-seeds torch's global generator at the start of
  every step from (seed, rank, step). Dropout differs between ranks (as it would between
  the micro-batches of one process) and a resumed run is bitwise the same as one that
  never stopped, without saving every rank's RNG state. (So DDP runs with dropout do not
  match a single-process run bit for bit; with dropout 0 they match to rounding.);
- files: only rank 0 writes the best model, the training state, and logs. Every rank
  loads the same state from `state_dir` when resuming, so it must be on a filesystem all
  ranks see (always so for one machine).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from nanoforge.config import TrainConfig
from nanoforge.data.memmap import CorpusMeta, TokenSplit
from nanoforge.errors import ConfigError, NanoforgeError
from nanoforge.model.gpt import GPT, GPTConfig
from nanoforge.seeding import seed_everything
from nanoforge.train import distributed
from nanoforge.train.checkpoint import (
    MODEL_FILE,
    load_model,
    load_training_state,
    peek_train_state,
    save_checkpoint,
)
from nanoforge.train.device import measure_peak_flops, pick_device
from nanoforge.train.schedule import lr_at, make_optimizer

logger = logging.getLogger(__name__)

LogFn = Callable[[int, dict[str, float]], None]

TRAIN_EVAL_STEP0 = 2**48
"""First `TokenSplit.batch` step of the fixed batches that measure the training loss: far
beyond any step training reaches, so they never coincide with a training batch's seed."""

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class BatchSource(Protocol):
    """Where training batches come from: a `TokenSplit`, or a mix of them (`ReplayMix`)."""

    meta: CorpusMeta

    def __len__(self) -> int: ...

    def identity(self) -> dict[str, object]: ...

    def batch(
        self, step: int, batch_size: int, block_size: int, seed: int
    ) -> tuple[np.ndarray, np.ndarray]: ...


class TrainingError(NanoforgeError):
    """Training cannot go on (the loss became NaN or infinite)."""


class TrainingInterrupted(NanoforgeError):
    """SIGTERM/SIGINT stopped training at a step boundary, after the state was saved."""

    def __init__(self, message: str, *, signum: int, step: int) -> None:
        super().__init__(message)
        self.signum = signum
        self.step = step


@dataclass(frozen=True)
class TrainResult:
    """What a finished run reports (losses are the fixed-batch evaluations at the end)."""

    steps: int
    stopped_early: bool
    train_loss: float
    val_loss: float
    best_val_loss: float
    best_step: int
    tokens_per_s: float
    mfu: float | None
    seconds: float


# --------------------------------------------------------------------------- steps


def _autocast(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    # bf16 needs no loss scaling (fp32's exponent range); CPU runs in fp32.
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _to_device(batch: tuple[np.ndarray, np.ndarray], device: torch.device) -> tuple[Tensor, Tensor]:
    x, y = (torch.from_numpy(a).to(device, non_blocking=True) for a in batch)
    return x, y


def accumulate_gradients(
    model: nn.Module,
    batches: list[tuple[Tensor, Tensor]],
    device: torch.device,
    *,
    no_sync: Callable[[], contextlib.AbstractContextManager[Any]] | None = None,
) -> float:
    """Forward and backward over the micro-batches; return their mean loss.

    Each loss is divided by the number of micro-batches before backward, so the summed
    gradients are those of the mean loss: with equal micro-batch sizes, exactly the
    gradient of one batch holding all of them. `no_sync` (DDP's) is entered for every
    micro-batch but the last, so gradients are all-reduced once per step.
    """
    total = torch.zeros((), device=device)
    last = len(batches) - 1
    for i, (x, y) in enumerate(batches):
        sync = contextlib.nullcontext() if no_sync is None or i == last else no_sync()
        with sync:
            with _autocast(device):
                _, loss = model(x, y)
            (loss / len(batches)).backward()
        total += loss.detach().float()
    return (total / len(batches)).item()


def _micro_batches(
    data: BatchSource, cfg: TrainConfig, block_size: int, step: int, rank: int, world_size: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for k in range(cfg.grad_accum):
        # Each (step, micro-batch, rank) has its own index: ranks never share a batch, and
        # the stream depends on nothing but the step.
        index = (step * cfg.grad_accum + k) * world_size + rank
        yield data.batch(
            step=index, batch_size=cfg.batch_size, block_size=block_size, seed=cfg.seed
        )


@torch.no_grad()
def _loss_sum(
    model: nn.Module, batches: Iterator[tuple[np.ndarray, np.ndarray]], device: torch.device
) -> tuple[float, int]:
    """The summed token loss over `batches` and the number of tokens, in eval mode."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for batch in batches:
        x, y = _to_device(batch, device)
        with _autocast(device):
            _, loss = model(x, y)
        total += loss.float().item() * y.numel()
        count += y.numel()
    model.train(was_training)
    return total, count


def _evaluate(
    model: nn.Module,
    cfg: TrainConfig,
    train_data: BatchSource,
    val_splits: Mapping[str, TokenSplit],
    block_size: int,
    device: torch.device,
    rank: int,
    world_size: int,
) -> dict[str, float]:
    """Token-weighted mean loss over the fixed evaluation batches: `train_loss`, and
    `<name>_loss` for each of `val_splits` (the first `eval_batches` windows of each).

    Under DDP the batches are split among ranks (batch i on rank i % world_size) and the
    loss sums all-reduced, so every rank gets the same numbers; `model` must then not
    be the DDP wrapper (ranks may run different numbers of forwards here).
    """
    train_batches = (
        train_data.batch(TRAIN_EVAL_STEP0 + i, cfg.batch_size, block_size, cfg.seed)
        for i in range(rank, cfg.eval_batches, world_size)
    )
    sums = list(_loss_sum(model, train_batches, device))
    for split in val_splits.values():
        windows = split.eval_batches(cfg.batch_size, block_size, cfg.eval_batches)
        batches = (batch for i, batch in enumerate(windows) if i % world_size == rank)
        sums += _loss_sum(model, batches, device)
    totals = distributed.all_reduce_sum(sums)
    names = ["train", *val_splits]
    return {f"{name}_loss": totals[2 * i] / totals[2 * i + 1] for i, name in enumerate(names)}


def _step_seed(seed: int, rank: int, step: int) -> int:
    """The torch seed of `rank` at `step` in DDP mode: a pure function, so resuming is exact."""
    return int(np.random.SeedSequence([seed, rank, step]).generate_state(1, np.uint64)[0])


def _all_finite(model: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


# ------------------------------------------------------------------- setup, resume


def _check_data(
    train_data: BatchSource, val_splits: Mapping[str, TokenSplit], block_size: int, seed: int
) -> None:
    # Splits raise DataError when shorter than block_size + 1; ask now, not mid-run.
    train_data.batch(step=0, batch_size=1, block_size=block_size, seed=seed)
    for split in val_splits.values():
        next(iter(split.eval_batches(1, block_size, 1)))


def _build_model(
    model_cfg: GPTConfig, init_weights: Path | None, seed: int, device: torch.device
) -> GPT:
    """A fresh model: seeded initialisation, or the weights of `init_weights` (finetuning)."""
    seed_everything(seed)
    model = GPT(model_cfg)
    if init_weights is not None:
        base = load_model(init_weights)
        # Dropout may differ (finetuning often changes it); the shapes may not.
        if replace(base.config, dropout=model_cfg.dropout) != model_cfg:
            raise ConfigError(
                f"{init_weights}: its model config differs from the one to train (only "
                f"dropout may differ); use the model section of {init_weights}/config.json"
            )
        model.load_state_dict(base.state_dict())
    return model.to(device).train()


def _fingerprint(
    model_cfg: GPTConfig,
    cfg: TrainConfig,
    train_data: BatchSource,
    val_splits: Mapping[str, TokenSplit],
    device: torch.device,
    init_weights: Path | None,
    world_size: int,
) -> str:
    """A hash of everything that shapes the run: a state only resumes an identical run.

    Left out: `resume` and `checkpoint_every`, which change where states are saved but not
    a single number. `device` enters as the device actually used. The code enters too:
    DVC re-runs a stage when the library changes, and resuming a state trained by the old
    code would hand back the old results under the new code's name.
    """
    train_cfg = {k: v for k, v in asdict(cfg).items() if k not in ("resume", "checkpoint_every")}
    train_cfg["device"] = device.type
    init = None
    if init_weights is not None:
        init = hashlib.sha256((Path(init_weights) / MODEL_FILE).read_bytes()).hexdigest()
    parts = {
        "model": model_cfg.to_dict(),
        "train": train_cfg,
        "data": {
            "tokenizer_hash": train_data.meta.tokenizer_hash,
            "train": train_data.identity(),
            "val": {name: split.identity() for name, split in val_splits.items()},
        },
        "init_weights": init,
        "world_size": world_size,
        "code": code_version(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def source_hash(folder: Path) -> str:
    """A hash of the names and contents of every Python file under `folder`."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


@functools.cache
def code_version() -> str:
    """The nanoforge package's `source_hash` and torch's version.

    The whole package rather than the modules training imports: simple to reason about,
    and a change to an unrelated module only costs a resume, never a wrong result.
    """
    return f"{source_hash(Path(__file__).resolve().parents[1])} torch {torch.__version__}"


def _saved_fingerprint(state_dir: Path) -> str | None:
    """The fingerprint of the state in `state_dir`; None when there is none or it is unreadable.

    Read before anything is loaded: a state of a different model shape would not even fit
    the model, and it should be ignored, not fail the run.
    """
    state = peek_train_state(state_dir)
    return None if state is None else str(state.get("fingerprint"))


# ------------------------------------------------------------------------ signals


class _StopFlag:
    """Set by SIGTERM/SIGINT; the loop saves and stops at the next step boundary."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: the user does not want to wait
        self.signum = signum


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[_StopFlag]:
    flag = _StopFlag()
    # Python only lets the main thread install handlers; elsewhere signals keep their
    # default behaviour and the periodic checkpoints are the safety net.
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = {sig: signal.signal(sig, flag.handle) for sig in STOP_SIGNALS}
    try:
        yield flag
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# -------------------------------------------------------------------------- train


def train(
    model_cfg: GPTConfig,
    cfg: TrainConfig,
    train_data: BatchSource,
    val_data: TokenSplit,
    out: Path,
    *,
    state_dir: Path,
    log: LogFn | None = None,
    init_weights: Path | None = None,
    monitor: Mapping[str, TokenSplit] | None = None,
    rank: int = 0,
    world_size: int = 1,
) -> TrainResult:
    """Train a GPT of `model_cfg` as `cfg` says; the best model by val loss goes to `out`.

    `out` and `state_dir` are checkpoint folders, each replaced whole when saved (keep
    other files elsewhere). `log(step, metrics)` receives train_loss, val_loss, lr,
    tokens_per_s and mfu (NaN when unknown) at every evaluation, and `<name>_loss` for
    each split of `monitor`; `step` counts steps done. `init_weights` starts from a saved
    model (finetuning) instead of a fresh one.

    Raises `TrainingError` on a non-finite loss (the last good state stays in state_dir),
    `TrainingInterrupted` after saving on SIGTERM/SIGINT, `DataError`/`ConfigError` up
    front for data shorter than a block or an unusable device.
    """
    started = time.perf_counter()
    out, state_dir = Path(out), Path(state_dir)
    best_dir = state_dir.with_name(f"{state_dir.name}-best")  # survives like the state
    if out.resolve() == state_dir.resolve():
        raise ConfigError(f"{out}: the best model and the training state need separate folders")
    block_size = model_cfg.block_size
    monitor = dict(monitor or {})
    if "val" in monitor or "train" in monitor:
        raise ConfigError("monitor: `train` and `val` are taken; name the split otherwise")
    val_splits = {"val": val_data, **monitor}
    _check_data(train_data, val_splits, block_size, cfg.seed)
    device = pick_device(cfg.device)
    main = rank == 0
    ddp = world_size > 1
    if ddp:
        if not distributed.is_initialized() or (rank, world_size) != (
            distributed.rank(),
            distributed.world_size(),
        ):
            raise ConfigError(
                f"world_size={world_size} needs the process group of rank {rank} of "
                f"{world_size} initialised; launch with torchrun and use "
                "nanoforge.train.distributed.distributed()"
            )
        if device.type == "cuda":  # distributed() put this process on cuda:LOCAL_RANK
            device = torch.device("cuda", torch.cuda.current_device())
    fingerprint = _fingerprint(
        model_cfg, cfg, train_data, val_splits, device, init_weights, world_size
    )

    model = _build_model(model_cfg, init_weights, cfg.seed, device)
    optimizer = make_optimizer(
        model,
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        betas=(cfg.beta1, cfg.beta2),
        device_type=device.type,
    )
    start, best_val, best_step = 0, math.inf, -1
    stopped_at: int | None = None  # the step early stopping ended the run at
    # Every evaluation's metrics, kept in the training state: DVC deletes a stage's
    # outputs (the logged curves among them) before re-running it, so a resumed run
    # replays them to `log` and its curves are whole.
    history: list[dict[str, float]] = []
    saved_fingerprint = _saved_fingerprint(state_dir) if cfg.resume == "auto" else None
    if saved_fingerprint == fingerprint:
        saved = load_training_state(state_dir, model, optimizer)
        start, best_val, best_step = saved["step"], saved["best_val_loss"], saved["best_step"]
        stopped_at = saved.get("stopped_at")
        history = list(saved.get("history", []))
        if main:
            logger.info("resuming from %s at step %d", state_dir, start)
            if log is not None:
                for entry in history:
                    log(int(entry["step"]), {k: v for k, v in entry.items() if k != "step"})
    elif main and cfg.resume == "auto" and (state_dir.exists() or saved_fingerprint is not None):
        logger.warning(
            "%s holds no state of this run (params or data changed, or it is unreadable); "
            "starting fresh, and it will be overwritten",
            state_dir,
        )

    # Compiling only pays off on GPU; the state dict of `model` stays unprefixed either way.
    runner: nn.Module = model
    no_sync = None
    if ddp:
        # Every rank loaded the same state, so DDP's initial broadcast from rank 0 changes
        # nothing; GPT has no buffers, so no forward broadcasts them either.
        wrapped = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
        runner, no_sync = wrapped, wrapped.no_sync
    if cfg.compile and device.type == "cuda":
        runner = torch.compile(runner)  # type: ignore[assignment]
    # Evaluation is split unevenly among ranks, so it must not go through the DDP wrapper.
    eval_runner = model if ddp else runner
    peak = measure_peak_flops(device)
    flops_per_token = model.flops_per_token()
    tokens_per_step = cfg.batch_size * block_size * cfg.grad_accum * world_size

    def save_state(next_step: int) -> None:
        if not _all_finite(model):  # never let broken weights replace the last good state
            raise TrainingError(
                f"weights are not finite after step {next_step - 1}: training stopped; "
                f"the last good checkpoint is in {state_dir}"
            )
        if main:
            train_state = {
                "step": next_step,
                "best_val_loss": best_val,
                "best_step": best_step,
                "fingerprint": fingerprint,
                "history": history,
                "stopped_at": stopped_at,
            }
            save_checkpoint(
                state_dir, model, model_cfg, optimizer=optimizer, train_state=train_state
            )

    def throughput() -> tuple[float, float | None]:
        tokens_per_s = tokens_done / step_seconds if step_seconds > 0 else 0.0
        # tokens/s counts every rank's tokens; the peak is one device's.
        mfu = flops_per_token * tokens_per_s / (peak * world_size) if peak > 0 else None
        return tokens_per_s, mfu

    def evaluate(steps_done: int, lr: float, report: bool = True) -> tuple[float, float]:
        nonlocal best_val, best_step
        losses = _evaluate(
            eval_runner, cfg, train_data, val_splits, block_size, device, rank, world_size
        )
        train_loss, val_loss = losses["train_loss"], losses["val_loss"]
        if not all(math.isfinite(v) for v in losses.values()):
            raise TrainingError(
                f"evaluation loss is {val_loss} (val), {train_loss} (train) after step "
                f"{steps_done - 1}: training stopped; the last good checkpoint is in {state_dir}"
            )
        if val_loss < best_val:
            best_val, best_step = val_loss, steps_done
            if main:
                save_checkpoint(best_dir, model, model_cfg)
        tokens_per_s, mfu = throughput()
        metrics = {
            **losses,
            "lr": lr,
            "tokens_per_s": tokens_per_s,
            "mfu": math.nan if mfu is None else mfu,
        }
        if main:
            logger.info("step %d: train loss %.4f, val loss %.4f", steps_done, train_loss, val_loss)
        if report:
            history.append({"step": float(steps_done), **metrics})
            if log is not None and main:
                log(steps_done, metrics)
        return train_loss, val_loss

    tokens_done, step_seconds = 0, 0.0
    schedule = functools.partial(
        lr_at,
        max_lr=cfg.lr,
        min_lr=cfg.min_lr,
        warmup_steps=cfg.warmup_steps,
        max_steps=cfg.max_steps,
    )

    def patience_ran_out() -> bool:
        # Evaluations since the best one; the history survives resuming, so this does too.
        waited = sum(1 for entry in history if entry["step"] > best_step)
        return 0 < cfg.patience <= waited

    lr = schedule(max(start - 1, 0))
    bar = tqdm(
        range(start, cfg.max_steps if stopped_at is None else start),
        initial=start,
        total=cfg.max_steps,
        desc="train",
        unit="step",
        disable=None if main else True,  # None: shown on a terminal only
    )
    final: tuple[float, float] | None = None
    with _stop_on_signals() as stop, bar:
        runner.train()
        for step in bar:
            t0 = time.perf_counter()
            if ddp:
                torch.manual_seed(_step_seed(cfg.seed, rank, step))
            lr = schedule(step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            batches = [
                _to_device(b, device)
                for b in _micro_batches(train_data, cfg, block_size, step, rank, world_size)
            ]
            loss = accumulate_gradients(runner, batches, device, no_sync=no_sync)
            stopping = stop.signum
            if ddp:
                # One collective: the mean loss, and whether any rank got a stop signal, so
                # every rank takes the same decisions below at the same step.
                loss_sum, stops = distributed.all_reduce_sum([loss, stop.signum is not None])
                loss = loss_sum / world_size
                stopping = (stop.signum or signal.SIGTERM) if stops > 0 else None
            if not math.isfinite(loss):
                # Checked before optimizer.step: the weights that gave it are not updated,
                # and nothing is saved from here on.
                raise TrainingError(
                    f"loss is {loss} at step {step}: training stopped; "
                    f"the last good checkpoint is in {state_dir}"
                )
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.synchronize(device)  # honest step timing
            step_seconds += time.perf_counter() - t0
            tokens_done += tokens_per_step
            bar.set_postfix(loss=f"{loss:.4f}", tok_s=f"{throughput()[0]:.0f}")

            done = step + 1
            # Evaluate before saving the state, so the state's best val loss includes it.
            if done % cfg.eval_every == 0 or done == cfg.max_steps:
                losses = evaluate(done, lr)
                if patience_ran_out():
                    stopped_at = done
                    if main:
                        logger.info("val loss did not improve for %d evaluations: "
                                    "stopping early at step %d", cfg.patience, done)  # fmt: skip
                if done == cfg.max_steps or stopped_at is not None:
                    final = losses
            if not ddp:
                stopping = stop.signum  # read as late as possible
            finished = done == cfg.max_steps or stopped_at is not None
            if done % cfg.checkpoint_every == 0 or finished or stopping:
                save_state(done)
            if stopped_at is not None:
                break
            if stopping is not None:
                distributed.barrier()  # rank 0's state is complete before any rank stops
                name = signal.Signals(stopping).name
                raise TrainingInterrupted(
                    f"{name} received: stopped after step {step}; the training state is in "
                    f"{state_dir}, run again to resume",
                    signum=stopping,
                    step=done,
                )

    trained = final is not None
    if final is None:
        # Resumed from a finished run: nothing trained, but the final numbers are asked for
        # (already in the history replayed above, so not logged twice).
        final = evaluate(stopped_at or cfg.max_steps, lr, report=False)
    if main and (trained or not (out / MODEL_FILE).exists()):
        # Published at the end from beside the state: DVC deletes `out` before re-running a
        # stage, so a resumed run must still hand over the best model of the whole run.
        save_checkpoint(out, load_model(best_dir), model_cfg)
    distributed.barrier()  # every rank returns once rank 0's files are complete
    train_loss, val_loss = final
    tokens_per_s, mfu = throughput()
    if tokens_done == 0 and history:  # resumed a finished run: its last measured speed
        tokens_per_s, last_mfu = history[-1]["tokens_per_s"], history[-1]["mfu"]
        mfu = None if math.isnan(last_mfu) else last_mfu
    return TrainResult(
        steps=stopped_at or cfg.max_steps,
        stopped_early=stopped_at is not None,
        train_loss=train_loss,
        val_loss=val_loss,
        best_val_loss=best_val,
        best_step=best_step,
        tokens_per_s=tokens_per_s,
        mfu=mfu,
        seconds=time.perf_counter() - started,
    )
