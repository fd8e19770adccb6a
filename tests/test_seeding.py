"""Same seed, same numbers: Python's, NumPy's and torch's generators all follow the seed."""

from __future__ import annotations

import random

import numpy as np
import torch

from nanoforge.seeding import seed_everything


def draws() -> tuple[float, float, list[float]]:
    return random.random(), float(np.random.rand()), torch.rand(3).tolist()


def test_same_seed_gives_the_same_draws_and_another_seed_others() -> None:
    seed_everything(7)
    first = draws()
    seed_everything(7)
    assert draws() == first
    seed_everything(8)
    assert draws() != first
