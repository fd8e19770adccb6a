"""The DVC DAG: declared deps match what stages import, and `dvc repro` caches for real."""

from __future__ import annotations

import ast
import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from arxiv_server import PATH as ARXIV_PATH
from arxiv_server import arxiv_routes
from conftest import ROOT
from genius_server import genius_routes
from loopback import LoopbackServer
from repo_copy import commit, copy_repo, run, set_params
from ruamel.yaml import YAML

STAGES = (
    "crawl_arxiv",
    "crawl_lyrics",
    "clean_csv",
    "train_bpe",
    "encode_memmap",
    "pretrain",
    "ablate_variant",
    "ablate",
    "scale",
    "finetune",
    "evaluate",
    "visualize",
)
SMALL = {"data.builtin.general_max_chars": 150_000, "data.builtin.domain_max_chars": 150_000}
TINY_TRAINING = {
    "model.block_size": 32,
    "model.n_layer": 2,
    "model.n_embd": 32,
    "train.max_steps": 30,
    "train.warmup_steps": 5,
    "train.batch_size": 8,
    "train.eval_every": 10,
    "train.eval_batches": 2,
    "train.checkpoint_every": 10,
}


def dvc_stages() -> dict[str, dict]:
    return YAML(typ="safe").load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


def imported_library_files(script: Path) -> set[str]:
    """Files of `nanoforge` that importing a stage script loads (in a fresh interpreter)."""
    code = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('stage', {str(script)!r})\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "print(json.dumps([m.__file__ for n, m in sys.modules.items()\n"
        "                  if n == 'nanoforge' or n.startswith('nanoforge.')]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return {Path(f).resolve().relative_to(ROOT).as_posix() for f in json.loads(out)}


def holds_only_constants(path: Path) -> bool:
    """A package `__init__` of a docstring and constants changes no stage's output."""
    body = ast.parse(path.read_text(encoding="utf-8")).body
    return all(
        isinstance(n, ast.Expr | ast.Assign) and isinstance(n.value, ast.Constant) for n in body
    )


def test_every_stage_in_dvc_yaml_is_checked_here() -> None:
    assert tuple(dvc_stages()) == STAGES


@pytest.mark.parametrize("name", STAGES)
def test_stage_deps_list_every_library_file_the_stage_imports(name: str) -> None:
    stage = dvc_stages()[name]
    cmd = f"python stages/{name}.py"
    if "foreach" in stage:  # one stage per key: the script takes the key
        stage, cmd = stage["do"], f"{cmd} ${{key}}"
    deps = set(stage["deps"])
    script = ROOT / f"stages/{name}.py"
    assert f"stages/{name}.py" in deps and stage["cmd"] == cmd
    needed = {
        f
        for f in imported_library_files(script)
        if not (f.endswith("__init__.py") and holds_only_constants(ROOT / f))
    }
    assert needed - deps == set(), "add these to the stage's deps in dvc.yaml"
    assert {d for d in deps if d.startswith("src/")} - needed == set(), "deps it does not use"


def test_builtin_stages_repro_then_do_nothing(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path / "repo")
    set_params(repo, SMALL)
    first = run(repo, "dvc", "repro", "encode_memmap")
    for name in STAGES[: STAGES.index("encode_memmap") + 1]:
        assert f"Running stage '{name}'" in first.stdout

    general = pd.read_parquet(repo / "data/clean/general.parquet")
    domain = pd.read_parquet(repo / "data/clean/domain.parquet")
    assert list(general.columns) == ["id", "source", "title", "text", "tags", "split"]
    assert set(general["source"]) == {"python-docs"} and set(domain["source"]) == {"python-source"}
    assert set(general["split"]) == {"train", "val"} == set(domain["split"])
    crawl = json.loads((repo / "reports/crawl_arxiv.json").read_text())
    assert crawl["source"] == "builtin" and crawl["records"] > 10 and crawl["requests"] == 0
    clean = json.loads((repo / "reports/clean.json").read_text())
    assert clean["rows_out"] == len(general) + len(domain)

    tokenizer = json.loads((repo / "reports/tokenizer.json").read_text())
    assert tokenizer["vocab_size"] == 512 and 1.5 < tokenizer["val_bytes_per_token"] < 5.0
    meta = json.loads((repo / "data/tokens/general/meta.json").read_text())
    assert meta["dtype"] == "uint16" and meta["tokenizer_hash"] == tokenizer["hash"]
    tokens = json.loads((repo / "reports/tokens.json").read_text())
    assert tokens["general"]["val"]["documents"] == (general["split"] == "val").sum()

    mtime = (repo / "data/tokens/general/train.bin").stat().st_mtime_ns
    second = run(repo, "dvc", "repro", "encode_memmap")
    assert "Running stage" not in second.stdout
    assert "Data and pipelines are up to date." in second.stdout
    assert (repo / "data/tokens/general/train.bin").stat().st_mtime_ns == mtime


def test_a_params_change_reruns_only_the_stages_that_read_it(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path / "repo")
    set_params(repo, SMALL)
    run(repo, "dvc", "repro", "clean_csv")
    set_params(repo, {"clean.min_chars": 100})
    rerun = run(repo, "dvc", "repro", "clean_csv")
    assert "Running stage 'clean_csv'" in rerun.stdout
    assert "Running stage 'crawl_arxiv'" not in rerun.stdout
    assert "Running stage 'crawl_lyrics'" not in rerun.stdout


def test_pretrain_trains_saves_the_model_and_logs_curves(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path / "repo")
    set_params(repo, {**SMALL, **TINY_TRAINING})
    run(repo, "dvc", "repro", "pretrain")
    assert sorted(p.name for p in (repo / "models/pretrain").iterdir()) == [
        "config.json",
        "model.pt",
        "tokenizer.json",
        "train.json",
    ]
    config = json.loads((repo / "models/pretrain/config.json").read_text())
    assert (config["vocab_size"], config["n_embd"], config["block_size"]) == (512, 32, 32)
    metrics = json.loads((repo / "reports/pretrain/metrics.json").read_text())
    assert metrics["steps"] == 30 and metrics["best_val_loss"] < math.log(512)
    curve = (repo / "reports/pretrain/plots/metrics/val_loss.tsv").read_text().splitlines()
    assert curve[0].split("\t") == ["step", "val_loss"] and len(curve) == 1 + 3


TINY_RUN = {"max_steps": 12, "warmup_steps": 2, "eval_every": 6, "checkpoint_every": 12}
TINY_EXPERIMENTS = {
    "ablate.base": {"model": {}, "train": TINY_RUN},
    "ablate.variants": {
        "baseline": {},
        "heads_1": {"model": {"n_head": 1}},
        "relu": {"model": {"activation": "relu"}},
    },
    "scale.base": {"model": {}, "train": TINY_RUN},
    "scale.sizes": {
        "a": {"n_layer": 1, "n_head": 1, "n_embd": 8},
        "b": {"n_layer": 1, "n_head": 2, "n_embd": 16},
        "c": {"n_layer": 2, "n_head": 2, "n_embd": 32},
    },
    "scale.bootstrap_samples": 200,
    "finetune.train": {**TINY_RUN, "max_steps": 20, "eval_every": 5, "patience": 0},
}


TINY_EVALUATION = {
    "evaluate.n_prompts": 4,
    "evaluate.prompt_tokens": 8,
    "evaluate.max_new_tokens": 24,
    "evaluate.long_tokens": 300,
    "evaluate.hot_temperatures": [2.0],
    "evaluate.prompts": ["The"],
}


def stages_run(result: subprocess.CompletedProcess[str]) -> set[str]:
    return {line.split("'")[1] for line in result.stdout.splitlines() if "Running stage" in line}


def check_experiments(repo: Path) -> None:
    summary = json.loads((repo / "reports/ablate/summary.json").read_text())
    assert [v["variant"] for v in summary["variants"]] == ["baseline", "heads_1", "relu"]
    assert all(v["seeds"] == [1, 2] for v in summary["variants"])
    heads_1 = summary["variants"][1]["metrics"]["val_loss"]
    assert 0 < heads_1["mean"] < math.log(512) and heads_1["diff"] is not None
    assert "| relu | 2 |" in (repo / "reports/ablate/table.md").read_text()

    scale = json.loads((repo / "reports/scale/metrics.json").read_text())
    sizes = [run["params_non_embedding"] for run in scale["runs"]]
    assert sizes == sorted(sizes) and sizes[-1] > 10 * sizes[0]
    assert {run["tokens"] for run in scale["runs"]} == {12 * 8 * 32}  # one token budget
    fit = scale["fits"]["val_loss"]
    assert fit["n_points"] == 3 and fit["alpha_ci"][0] <= fit["alpha"] <= fit["alpha_ci"][1]
    assert "α" in (repo / "reports/scale/fit.md").read_text()

    finetune = json.loads((repo / "reports/finetune/metrics.json").read_text())
    for name in ("no_replay", "replay"):
        assert finetune[name]["after"]["domain"]["loss"] < finetune["before"]["domain"]["loss"]
        assert finetune[name]["change"]["domain"]["loss"] < 0
    assert finetune["published"] == "replay"
    curve = (repo / "reports/finetune/replay/plots/metrics/general_val_loss.tsv").read_text()
    assert len(curve.splitlines()) == 1 + 4  # header + evaluations at 5, 10, 15, 20


def check_evaluation(repo: Path) -> None:
    both = json.loads((repo / "reports/evaluate/metrics.json").read_text())
    assert set(both) == {"pretrain", "finetune"}
    assert both["finetune"]["domain"]["loss"] < both["pretrain"]["domain"]["loss"]
    metrics = both["pretrain"]
    assert metrics["general"]["loss"] < math.log(512)
    assert 0 < metrics["general"]["bits_per_byte"] < 8 and metrics["domain"]["tokens"] > 0
    strategies = {"greedy", "temperature", "top_k", "top_p", "human (val text)"}
    assert set(metrics["decoding"]) == strategies
    assert all(row["utf8_valid"] == 1.0 for row in metrics["decoding"].values())
    assert metrics["adversarial_cases"] == 5
    hot = metrics["adversarial"]["high-temperature hallucination"]
    assert hot["passed"] and hot["figures"]["temperatures"][0]["temperature"] == 2.0
    samples = (repo / "reports/evaluate/samples.md").read_text()
    assert "### Prompt: 'The'" in samples and "**top_p: top_p (p=0.9, T=1)**" in samples


FIGURES = ("embeddings_pca", "attention_pretrain", "attention_finetune", "training_curves",
           "finetune_curves")  # fmt: skip


def check_figures_and_report(repo: Path) -> None:
    pngs = [repo / f"reports/figures/{name}.png" for name in FIGURES]
    pngs += [repo / "reports/ablate/val_loss.png", repo / "reports/scale/power_law.png"]
    assert all(png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for png in pngs)
    report = (repo / "reports/index.md").read_text()
    for section in ("Data", "Pretraining", "Ablations", "Scaling", "Finetuning", "Evaluation"):
        assert f"\n## {section}\n" in report
    assert "not run yet" not in report
    page = (repo / "reports/index.html").read_text()
    assert page.count("data:image/png;base64,") >= len(pngs)
    assert "http://" not in page and "https://" not in page and "<script" not in page


def test_the_whole_dag_runs_then_reruns_only_what_a_change_touches(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path / "repo")
    set_params(repo, {**SMALL, **TINY_TRAINING, **TINY_EXPERIMENTS, **TINY_EVALUATION})
    first = run(repo, "dvc", "repro")
    variants = {f"ablate_variant@{name}" for name in TINY_EXPERIMENTS["ablate.variants"]}
    assert stages_run(first) == set(STAGES) - {"ablate_variant"} | variants
    assert (repo / "models/finetune/model.pt").is_file()
    check_experiments(repo)
    check_evaluation(repo)
    check_figures_and_report(repo)

    again = run(repo, "dvc", "repro")
    assert "Running stage" not in again.stdout
    set_params(repo, {"ablate.variants.relu": {"model": {"activation": "relu", "dropout": 0.1}}})
    assert stages_run(run(repo, "dvc", "repro")) == {"ablate_variant@relu", "ablate", "visualize"}

    # The other way to ablate: a DVC experiment on the main model re-runs what reads it.
    run(repo, "git", "add", "-A")
    commit(repo, "tiny run")
    exp = run(repo, "dvc", "exp", "run", "-n", "heads8", "-S", "model.n_head=8")
    assert {"pretrain", "finetune", "evaluate", "visualize"} <= stages_run(exp)
    assert not {"clean_csv", "train_bpe", "encode_memmap"} & stages_run(exp)
    assert "heads8" in run(repo, "dvc", "exp", "show", "--csv").stdout
    page = run(repo, sys.executable, "tools/plots_offline.py", "HEAD", "heads8").stdout.strip()
    html = (repo / page).read_text()
    assert html.count("<svg") >= 4 and "heads8" in html and "<script" not in html


def test_bad_model_params_fail_before_training(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path / "repo")
    set_params(repo, {**SMALL, **TINY_TRAINING, "model.n_embd": 130})
    result = run(repo, "dvc", "repro", "pretrain", check=False)
    assert result.returncode != 0
    assert "error: model.n_embd must be divisible by model.n_head (got 130 and 4)" in (
        result.stderr + result.stdout
    )
    assert not (repo / "models/pretrain").exists()


def test_a_tokenizer_change_retrains_and_reencodes_but_does_not_reclean(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path / "repo")
    set_params(repo, SMALL)
    run(repo, "dvc", "repro", "encode_memmap")
    set_params(repo, {"tokenizer.vocab_size": 300})
    rerun = run(repo, "dvc", "repro", "encode_memmap")
    assert "Running stage 'train_bpe'" in rerun.stdout
    assert "Running stage 'encode_memmap'" in rerun.stdout
    assert "Running stage 'clean_csv'" not in rerun.stdout
    meta = json.loads((repo / "data/tokens/domain/meta.json").read_text())
    assert meta["vocab_size"] == 300


def test_web_source_runs_as_a_dvc_experiment_against_loopback(
    fixtures: Path, tmp_path: Path
) -> None:
    repo = copy_repo(tmp_path / "repo")
    with LoopbackServer({**arxiv_routes(fixtures), **genius_routes(fixtures)}) as server:
        overrides = {
            "data.source": "web",
            "crawl.arxiv.base_url": server.url + ARXIV_PATH,
            "crawl.arxiv.query": "testing",
            "crawl.arxiv.categories": "[]",
            "crawl.arxiv.sort_by": "relevance",
            "crawl.arxiv.max_results": 20,
            "crawl.arxiv.page_size": 10,
            "crawl.arxiv.min_interval_s": 0,
            "crawl.lyrics.api_base_url": server.url,
            "crawl.lyrics.page_base_url": server.url,
            "crawl.lyrics.artists": "[Wormwood]",
            "crawl.lyrics.queries": "[]",
            "crawl.lyrics.min_interval_s": 0,
        }
        sets = [arg for key, value in overrides.items() for arg in ("-S", f"{key}={value}")]
        run(repo, "dvc", "exp", "run", "-n", "web-loopback", *sets, "clean_csv",
            GENIUS_ACCESS_TOKEN="loopback-token")  # fmt: skip

    arxiv = json.loads((repo / "reports/crawl_arxiv.json").read_text())
    assert (arxiv["source"], arxiv["records"], arxiv["requests"]) == ("web", 20, 2)
    lyrics = json.loads((repo / "reports/crawl_lyrics.json").read_text())
    assert (lyrics["records"], lyrics["no_lyrics"], lyrics["page_failures"]) == (5, 1, 0)
    general = pd.read_parquet(repo / "data/clean/general.parquet")
    domain = pd.read_parquet(repo / "data/clean/domain.parquet")
    assert len(general) == 20 and set(general["source"]) == {"arxiv"}
    assert sorted(domain["id"]) == ["genius:1001", "genius:1002", "genius:1003", "genius:1006"]
    listed = run(repo, "dvc", "exp", "list", "--name-only").stdout.split()
    assert listed == ["web-loopback"]
