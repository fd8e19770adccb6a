"""Which device to run on, and how fast its matrix multiplies really are (for MFU)."""

from __future__ import annotations

import functools
import statistics
import time

import torch

from nanoforge.errors import ConfigError

TRIALS = 5
"""Timed trials of the peak measurement; their median counts."""


def pick_device(name: str) -> torch.device:
    """`auto`: CUDA when available, else CPU; `cpu`; `cuda` (refused without CUDA)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device is cuda but no CUDA device is available; use auto or cpu")
    if name not in ("cpu", "cuda"):
        raise ConfigError(f"train.device must be one of auto | cpu | cuda (got {name!r})")
    return torch.device(name)


@functools.cache
def _peak_flops(device_type: str, index: int | None) -> float:
    device = torch.device(device_type, index)
    cuda = device.type == "cuda"
    # Big enough to be compute-bound; a trial takes about 0.2 s on a 2-core CPU.
    n, reps = (4096, 20) if cuda else (1024, 15)
    dtype = torch.bfloat16 if cuda else torch.float32
    # A private generator: measuring must not move the global RNG that training uses.
    gen = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, dtype=dtype, generator=gen)
    b = torch.randn(n, n, device=device, dtype=dtype, generator=gen)

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(device)

    a @ b  # warm-up: kernel selection, thread pool start
    sync()
    seconds = []
    for _ in range(TRIALS):
        start = time.perf_counter()
        for _ in range(reps):
            a @ b
        sync()
        seconds.append(time.perf_counter() - start)
    typical = statistics.median(seconds)
    return 2 * n**3 * reps / typical if typical > 0 else 0.0


def measure_peak_flops(device: torch.device) -> float:
    """Sustained matmul FLOP/s of `device`: the denominator of MFU.

    Times square matmuls (1024x1024 fp32 on CPU, 4096x4096 bf16 on CUDA), the precision
    training runs in, and counts 2·n³ FLOPs each. It is what this machine really does, not
    a datasheet figure, so MFU reads as "fraction of what matmuls reach here". The median
    of TRIALS trials counts: on a shared machine single trials range over ±15 % within
    seconds, and training is measured over minutes, so the peak is what matmuls sustain,
    neither a lucky burst nor a stalled trial. Measured once per process and device
    (cached): about 1-2 s.
    """
    return _peak_flops(device.type, device.index)
