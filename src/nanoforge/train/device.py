"""Which device to run on, and how fast its matrix multiplies really are (for MFU)."""

from __future__ import annotations

import functools
import math
import time

import torch

from nanoforge.errors import ConfigError

TRIALS = 5
"""Timed trials of the peak measurement; the fastest counts."""


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
    # Big enough to be compute-bound, small enough to take a fraction of a second on a CPU.
    n, reps = (4096, 20) if cuda else (1024, 5)
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
    best = math.inf
    # The fastest of several trials: a peak is what the device reaches, and one trial can
    # be slowed by a clock ramping up or another process (MFU above 100 % otherwise).
    for _ in range(TRIALS):
        start = time.perf_counter()
        for _ in range(reps):
            a @ b
        sync()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 * reps / best if best > 0 else 0.0


def measure_peak_flops(device: torch.device) -> float:
    """Achievable matmul FLOP/s of `device`: the denominator of MFU.

    Times a few square matmuls (1024x1024 fp32 on CPU, 4096x4096 bf16 on CUDA), the
    precision training runs in, and counts 2·n³ FLOPs each. It is what this machine really
    does, not a datasheet figure, so MFU reads as "fraction of what matmuls reach here".
    The fastest of TRIALS trials counts. Measured once per process and device (cached):
    about 0.5-2 s.
    """
    return _peak_flops(device.type, device.index)
