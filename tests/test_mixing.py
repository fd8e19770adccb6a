"""Replay mixing: a seeded share of general batches inside a domain stream."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nanoforge.data.memmap import CorpusMeta, SplitMeta, TokenSplit, write_token_file
from nanoforge.data.mixing import ReplayMix
from nanoforge.errors import ConfigError, DataError

HASH = "feedfacefeedface"


def constant_split(folder: Path, token: int, tokens: int = 500, hash_: str = HASH) -> TokenSplit:
    """A split whose every token is `token`, so a batch shows which corpus it came from."""
    folder.mkdir(parents=True)
    count = write_token_file(folder / "train.bin", [[token] * tokens], np.dtype(np.uint16))
    CorpusMeta("uint16", 16, hash_, 15, {"train": SplitMeta(count, 1, count)}).save(folder)
    return TokenSplit(folder, "train", hash_)


@pytest.fixture
def corpora(tmp_path: Path) -> tuple[TokenSplit, TokenSplit]:
    return constant_split(tmp_path / "domain", 1), constant_split(tmp_path / "general", 2)


def sources(mix: ReplayMix, steps: int, seed: int = 0) -> list[int]:
    return [int(mix.batch(step, 2, 8, seed)[0][0, 0]) for step in range(steps)]


def test_replay_zero_reads_only_the_domain(corpora: tuple[TokenSplit, TokenSplit]) -> None:
    assert set(sources(ReplayMix(*corpora, replay=0.0), 200)) == {1}


def test_the_replay_share_of_batches_comes_from_the_general_corpus(
    corpora: tuple[TokenSplit, TokenSplit],
) -> None:
    drawn = sources(ReplayMix(*corpora, replay=0.25), 2000)
    assert set(drawn) == {1, 2}
    assert drawn.count(2) / len(drawn) == pytest.approx(0.25, abs=0.03)


def test_the_stream_is_a_function_of_seed_and_step(corpora: tuple[TokenSplit, TokenSplit]) -> None:
    mix = ReplayMix(*corpora, replay=0.5)
    assert sources(mix, 100, seed=3) == sources(mix, 100, seed=3)
    assert sources(mix, 100, seed=3) != sources(mix, 100, seed=4)
    x, y = mix.batch(7, 4, 8, 3)
    expected = (mix.general if mix.is_replay(7, 3) else mix.domain).batch(7, 4, 8, 3)
    assert np.array_equal(x, expected[0]) and np.array_equal(y, expected[1])


def test_the_replay_share_is_part_of_the_streams_identity(
    corpora: tuple[TokenSplit, TokenSplit],
) -> None:
    assert ReplayMix(*corpora, 0.1).identity() != ReplayMix(*corpora, 0.2).identity()


def test_a_replay_share_outside_zero_to_one_is_refused(
    corpora: tuple[TokenSplit, TokenSplit],
) -> None:
    with pytest.raises(ConfigError, match=r"replay must be >= 0 and < 1 \(got 1\.0\)"):
        ReplayMix(*corpora, replay=1.0)


def test_corpora_of_different_tokenizers_are_refused(tmp_path: Path) -> None:
    domain = constant_split(tmp_path / "d", 1)
    general = constant_split(tmp_path / "g", 2, hash_="0000000000000000")
    with pytest.raises(DataError, match="different tokenizers"):
        ReplayMix(domain, general, replay=0.1)
