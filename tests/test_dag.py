"""The DVC DAG: declared deps match what stages import, and `dvc repro` caches for real."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT
from repo_copy import copy_repo, run, set_params
from ruamel.yaml import YAML

DATA_STAGES = ("crawl_arxiv", "crawl_lyrics", "clean_csv")
SMALL = {"data.builtin.general_max_chars": 150_000, "data.builtin.domain_max_chars": 150_000}


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


@pytest.mark.parametrize("name", DATA_STAGES)
def test_stage_deps_list_every_library_file_the_stage_imports(name: str) -> None:
    stage = dvc_stages()[name]
    deps = set(stage["deps"])
    script = ROOT / f"stages/{name}.py"
    assert f"stages/{name}.py" in deps and stage["cmd"] == f"python stages/{name}.py"
    needed = {
        f
        for f in imported_library_files(script)
        if not (f.endswith("__init__.py") and holds_only_constants(ROOT / f))
    }
    assert needed - deps == set(), "add these to the stage's deps in dvc.yaml"
    assert {d for d in deps if d.startswith("src/")} - needed == set(), "deps it does not use"


def test_builtin_data_stages_repro_then_do_nothing(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path / "repo")
    set_params(repo, SMALL)
    first = run(repo, "dvc", "repro", "clean_csv")
    for name in DATA_STAGES:
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

    mtime = (repo / "data/clean/general.parquet").stat().st_mtime_ns
    second = run(repo, "dvc", "repro", "clean_csv")
    assert "Running stage" not in second.stdout
    assert "Data and pipelines are up to date." in second.stdout
    assert (repo / "data/clean/general.parquet").stat().st_mtime_ns == mtime


def test_a_params_change_reruns_only_the_stages_that_read_it(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path / "repo")
    set_params(repo, SMALL)
    run(repo, "dvc", "repro", "clean_csv")
    set_params(repo, {"clean.min_chars": 100})
    rerun = run(repo, "dvc", "repro", "clean_csv")
    assert "Running stage 'clean_csv'" in rerun.stdout
    assert "Running stage 'crawl_arxiv'" not in rerun.stdout
    assert "Running stage 'crawl_lyrics'" not in rerun.stdout
