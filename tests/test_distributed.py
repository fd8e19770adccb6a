"""DDP under torchrun (2 processes, gloo on CPU): the same update as one process with the
same global batch, and only rank 0 writes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from test_loop import HASH, make_corpus, splits, tensors, tiny_model, tiny_train

from nanoforge.config import TrainConfig
from nanoforge.errors import ConfigError
from nanoforge.model.gpt import GPTConfig
from nanoforge.train import distributed
from nanoforge.train.loop import train

pytestmark = pytest.mark.skipif(
    not (torch.distributed.is_available() and torch.distributed.is_gloo_available()),
    reason="torch.distributed with gloo is not available",
)

SCRIPT = """
import json, sys
from pathlib import Path
from nanoforge.config import TrainConfig
from nanoforge.errors import ConfigError
from nanoforge.data.memmap import TokenSplit
from nanoforge.model.gpt import GPTConfig
from nanoforge.train import distributed, loop

corpus, run, results, model_json, train_json, token_hash = sys.argv[1:]
saves, logged = [], []
real_save = loop.save_checkpoint

def counting_save(folder, *args, **kwargs):
    saves.append(str(folder))
    return real_save(folder, *args, **kwargs)

loop.save_checkpoint = counting_save

with distributed.distributed() as ctx:
    result = loop.train(
        GPTConfig(**json.loads(model_json)), TrainConfig(**json.loads(train_json)),
        TokenSplit(corpus, "train", token_hash), TokenSplit(corpus, "val", token_hash),
        Path(run) / "out", state_dir=Path(run) / "state",
        log=lambda step, metrics: logged.append(step),
        rank=ctx.rank, world_size=ctx.world_size,
    )
    mean_rank = distributed.all_reduce_mean(float(ctx.rank))
Path(results, f"rank{ctx.rank}.json").write_text(json.dumps({
    "rank": ctx.rank, "world_size": ctx.world_size, "backend": ctx.backend,
    "saves": saves, "logged": logged, "mean_rank": mean_rank,
    "val_loss": result.val_loss, "best_step": result.best_step,
}))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def torchrun(
    tmp_path: Path, corpus: Path, run: Path, model_cfg: GPTConfig, cfg: TrainConfig, tag: str
) -> dict[int, dict]:
    script = tmp_path / "ddp_train.py"
    script.write_text(SCRIPT)
    results = tmp_path / f"results-{tag}"
    results.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    args = [corpus, run, results, json.dumps(model_cfg.to_dict()), json.dumps(asdict(cfg)), HASH]
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
         "--master_addr=127.0.0.1", f"--master_port={free_port()}", str(script),
         *map(str, args)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    return {r: json.loads((results / f"rank{r}.json").read_text()) for r in (0, 1)}


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_two_ranks_match_one_process_with_the_same_global_batch(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "tokens")
    model_cfg = tiny_model(dropout=0.0)
    common = dict(max_steps=6, batch_size=4, eval_every=3, checkpoint_every=3, resume="auto")
    # One process, 2 micro-batches per step: reads batches 2s and 2s+1 at step s.
    single = tmp_path / "single"
    expected = train(model_cfg, tiny_train(grad_accum=2, **common), *splits(corpus),
                     single / "out", state_dir=single / "state")  # fmt: skip
    # Two ranks, 1 micro-batch each: rank r reads batch 2s + r at step s.
    ddp = tmp_path / "ddp"
    ddp_cfg = tiny_train(grad_accum=1, **common)
    ranks = torchrun(tmp_path, corpus, ddp, model_cfg, ddp_cfg, "first")

    for folder in ("state", "out"):
        left, right = tensors(single / folder / "model.pt"), tensors(ddp / folder / "model.pt")
        assert left.keys() == right.keys()
        for key in left:
            a, b = right[key].clone(), left[key].clone()
            if key.endswith("attn.c_attn.bias"):
                # The key bias has a true gradient of exactly 0 (softmax ignores a shift
                # shared by all keys): its gradient is rounding noise, which AdamW scales up
                # to lr-sized steps, so the two summation orders part a little more there.
                keys = slice(model_cfg.n_embd, 2 * model_cfg.n_embd)
                torch.testing.assert_close(a[keys], b[keys], atol=1e-4, rtol=0, msg=key)
                a[keys] = b[keys] = 0
            torch.testing.assert_close(a, b, atol=1e-5, rtol=0, msg=key)
    assert ranks[0]["val_loss"] == pytest.approx(expected.val_loss, abs=1e-5)
    assert ranks[0]["val_loss"] == ranks[1]["val_loss"]  # the ranks agree exactly
    assert ranks[0]["best_step"] == ranks[1]["best_step"] == expected.best_step

    assert [r["world_size"] for r in ranks.values()] == [2, 2]
    assert ranks[0]["backend"] == ranks[1]["backend"] == "gloo"
    assert ranks[0]["mean_rank"] == ranks[1]["mean_rank"] == 0.5
    # Only rank 0 wrote and logged; nothing else (no temp or aside folders) was left.
    assert ranks[1]["saves"] == [] and ranks[1]["logged"] == []
    assert ranks[0]["logged"] == [3, 6] and len(ranks[0]["saves"]) >= 2
    assert files_under(ddp) == files_under(single) == {
        "out", "out/model.pt", "out/config.json",
        "state", "state/model.pt", "state/config.json", "state/state.pt",
        "state-best", "state-best/model.pt", "state-best/config.json",
    }  # fmt: skip

    # Run again: every rank loads the finished state, evaluates, agrees, and writes nothing.
    before = {p: p.stat().st_mtime_ns for p in ddp.rglob("*")}
    again = torchrun(tmp_path, corpus, ddp, model_cfg, ddp_cfg, "again")
    assert again[0]["val_loss"] == again[1]["val_loss"] == ranks[0]["val_loss"]
    assert again[0]["saves"] == again[1]["saves"] == [] and again[1]["logged"] == []
    assert again[0]["logged"] == [3, 6]  # the saved history, replayed for whole curves
    assert {p: p.stat().st_mtime_ns for p in ddp.rglob("*")} == before


def test_without_torchrun_nothing_is_initialised(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    with distributed.distributed() as ctx:
        assert (ctx.rank, ctx.world_size, ctx.backend) == (0, 1, None)
        assert not distributed.is_initialized() and distributed.is_main()
        assert distributed.all_reduce_mean(2.5) == 2.5
        assert distributed.all_reduce_sum([1, 2]) == [1.0, 2.0]
        distributed.barrier()


def test_world_size_above_one_needs_the_process_group(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "tokens")
    with pytest.raises(ConfigError, match="torchrun"):
        train(tiny_model(), tiny_train(max_steps=2, warmup_steps=1), *splits(corpus),
              tmp_path / "out", state_dir=tmp_path / "state", rank=0, world_size=2)  # fmt: skip
