"""A temporary copy of the project as a fresh git + DVC repository, for real `dvc` runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT
from ruamel.yaml import YAML

BIN = Path(sys.executable).parent  # the venv's bin: dvc, and the `python` stages run with


def project_files() -> list[str]:
    """Tracked files and untracked files git does not ignore (the working tree as a clone)."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in out.splitlines() if (ROOT / line).is_file()]


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **extra}


def run(
    repo: Path, *args: str, check: bool = True, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    """Run a command in `repo` with the venv first on PATH (as `make repro` does)."""
    result = subprocess.run(args, cwd=repo, env=env(**extra_env), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def copy_repo(dest: Path) -> Path:
    """Copy the project to `dest` and commit it there, as a clone would have it."""
    for name in project_files():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    run(dest, "git", "init", "-q", "-b", "main")
    run(dest, "git", "add", "-A")
    commit(dest, "copy of the project")
    return dest


def commit(repo: Path, message: str) -> None:
    run(repo, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", message)


def set_params(repo: Path, updates: dict[str, object]) -> None:
    """Set dotted keys in the copy's params.yaml (`{"data.builtin.general_max_chars": 1}`)."""
    yaml = YAML()
    path = repo / "params.yaml"
    params = yaml.load(path.read_text(encoding="utf-8"))
    for dotted, value in updates.items():
        *parents, leaf = dotted.split(".")
        node = params
        for key in parents:
            node = node[key]
        node[leaf] = value
    with path.open("w", encoding="utf-8") as f:
        yaml.dump(params, f)
