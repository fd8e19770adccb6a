"""The offline plots page: real `dvc plots diff --json` in a tiny repo, drawn by vl-convert.

The repo has a stage-level line plot, a top-level line plot (a folder of TSVs), a
top-level image plot and a declared plot whose file was never written. The plots are
committed once and changed in the workspace, so the page compares two revisions as
`dvc plots diff` does.
"""

from __future__ import annotations

import base64
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import matplotlib.image as mpimg
import numpy as np
import pytest
from conftest import ROOT
from repo_copy import BIN, commit, env, run

from nanoforge.viz.offline_plots import PAGE_NAME, render_offline

DVC = str(BIN / "dvc")
CHROMIUM = next(
    (shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None
)
DVC_YAML = """\
stages:
  train:
    cmd: echo the curves are written by hand here
    plots:
      - reports/train/loss.tsv:
          x: step
plots:
  - reports/finetune:
      x: step
  - reports/figures
  - reports/never_written.tsv:
      x: step
"""
LINE_PLOTS = ("reports/train/loss.tsv", "reports/finetune/acc.tsv")
IMAGE_PLOT = "reports/figures/sample.png"
MISSING_PLOT = "reports/never_written.tsv"
# DVC's colours for the first two revisions of a diff (its template's color range).
REV_COLOURS = {"workspace": (0x94, 0x5D, 0xD6), "HEAD": (0x13, 0xAD, 0xC7)}


# ------------------------------------------------------------------------ setup


def write_tsv(path: Path, name: str, values: list[float]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"{step}\t{v}\n" for step, v in enumerate(values, start=1))
    path.write_text(f"step\t{name}\n{rows}", encoding="utf-8")


def write_png(path: Path, level: float) -> None:
    """A small grey gradient PNG (grey: the browser test counts coloured pixels as curves)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    grid = np.linspace(0, level, 40 * 60).reshape(40, 60)
    mpimg.imsave(path, np.stack([grid] * 3, axis=-1))


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git + DVC repo: plots committed at HEAD, every one changed in the workspace."""
    repo = tmp_path_factory.mktemp("plots_repo")
    run(repo, "git", "init", "-q", "-b", "main")
    run(repo, DVC, "init", "-q")
    (repo / "dvc.yaml").write_text(DVC_YAML, encoding="utf-8")
    write_tsv(repo / "reports/train/loss.tsv", "loss", [3.0, 2.5, 2.2, 2.0, 1.9])
    write_tsv(repo / "reports/finetune/acc.tsv", "acc", [0.2, 0.4, 0.5, 0.55, 0.6])
    write_png(repo / IMAGE_PLOT, 0.5)
    run(repo, "git", "add", "-A")
    commit(repo, "plots at HEAD")
    write_tsv(repo / "reports/train/loss.tsv", "loss", [2.8, 2.0, 1.5, 1.2, 1.0])
    write_tsv(repo / "reports/finetune/acc.tsv", "acc", [0.3, 0.6, 0.7, 0.8, 0.85])
    write_png(repo / IMAGE_PLOT, 0.9)
    return repo


@pytest.fixture(scope="module")
def page(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The offline page of workspace vs HEAD, the venv's dvc first on PATH."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", env()["PATH"])
        return render_offline(repo, out_dir=tmp_path_factory.mktemp("out"), dvc=DVC)


def sections(page: Path) -> dict[str, str]:
    """{plot name: its <section> HTML}."""
    text = page.read_text(encoding="utf-8")
    found = re.findall(r'<section class="plot".*?<h2>(.*?)</h2>(.*?)</section>', text, re.S)
    return dict(found)


def line_strokes(section: str) -> set[str]:
    """Stroke colours of the drawn lines (paths with a `d` inside vega's line marks)."""
    marks = re.findall(r'<g class="mark-line role-mark[^"]*"[^>]*>(.*?)</g>', section, re.S)
    paths = [p for mark in marks for p in re.findall(r"<path [^>]*>", mark)]
    return {
        m[1] for p in paths if re.search(r'\bd="M', p) and (m := re.search(r'stroke="([^"]+)"', p))
    }


def load_cli() -> ModuleType:
    spec = importlib.util.spec_from_file_location("plots_offline", ROOT / "tools/plots_offline.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("PATH", env()["PATH"])
    return load_cli()


# ------------------------------------------------------------------------ tests


def test_vl_convert_is_installed() -> None:
    if importlib.util.find_spec("vl_convert") is None:
        pytest.fail("vl-convert-python is not installed: run `.venv/bin/pip install -e .[dev]`")


def test_page_has_one_titled_section_per_plot(page: Path) -> None:
    assert page.name == PAGE_NAME
    assert sorted(sections(page)) == sorted([*LINE_PLOTS, IMAGE_PLOT])


@pytest.mark.parametrize("name", LINE_PLOTS)
def test_line_plot_is_inline_svg_with_a_line_per_revision(page: Path, name: str) -> None:
    section = sections(page)[name]
    assert "<svg" in section and "<path" in section
    assert len(line_strokes(section)) == 2, "one coloured line per revision"


@pytest.mark.parametrize("name", LINE_PLOTS)
def test_legend_names_both_revisions(page: Path, name: str) -> None:
    legend = re.findall(r"<text [^>]*>([^<]*)</text>", sections(page)[name])
    assert {"workspace", "HEAD"} <= set(legend)


def test_image_plot_embeds_both_revisions(page: Path, repo: Path) -> None:
    section = sections(page)[IMAGE_PLOT]
    embedded = [
        base64.b64decode(b) for b in re.findall(r'src="data:image/png;base64,([^"]+)"', section)
    ]
    head = subprocess.run(
        ["git", "show", f"HEAD:{IMAGE_PLOT}"], cwd=repo, capture_output=True, check=True
    ).stdout
    assert sorted(embedded) == sorted([(repo / IMAGE_PLOT).read_bytes(), head])
    assert ">workspace</figcaption>" in section and ">HEAD</figcaption>" in section


def test_page_lists_the_plot_dvc_could_not_load(page: Path) -> None:
    problems = page.read_text(encoding="utf-8").split("DVC could not load", 1)[-1]
    assert MISSING_PLOT in problems and "FileNotFoundError" in problems


def test_page_loads_nothing_from_anywhere(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text
    assert "<script" not in text and "<link" not in text


def test_svg_ids_are_unique_in_the_page(page: Path) -> None:
    ids = re.findall(r'\bid="([^"]+)"', page.read_text(encoding="utf-8"))
    assert len(ids) == len(set(ids))


def test_cli_compares_named_revisions_and_prints_the_page(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools/plots_offline.py"), "HEAD", "--out", str(out), "--png"],
        cwd=repo,
        env=env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out / PAGE_NAME)
    assert f"warning: DVC could not load {MISSING_PLOT}" in result.stderr
    png = out / "reports_train_loss.tsv.png"
    assert png.read_bytes().startswith(b"\x89PNG")
    assert f'href="{png.name}"' in (out / PAGE_NAME).read_text()
    legend = re.findall(r"<text [^>]*>([^<]*)</text>", (out / PAGE_NAME).read_text())
    assert {"workspace", "HEAD"} <= set(legend)


def expect_error(cli: ModuleType, args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert cli.main(args) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    return err


def test_cli_outside_a_dvc_repo_says_so(
    cli: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(tmp_path, "git", "init", "-q")
    err = expect_error(cli, ["--repo", str(tmp_path), "--out", str(tmp_path / "o")], capsys)
    assert "not inside a DVC repository" in err


def test_cli_without_dvc_says_so(
    cli: ModuleType, repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--repo", str(repo), "--dvc", str(tmp_path / "no-dvc"), "--out", str(tmp_path)]
    assert "dvc not found" in expect_error(cli, args, capsys)


def test_cli_without_plots_says_so(
    cli: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(tmp_path, "git", "init", "-q")
    run(tmp_path, DVC, "init", "-q")
    commit(tmp_path, "no plots")
    err = expect_error(cli, ["--repo", str(tmp_path), "--out", str(tmp_path / "o")], capsys)
    assert "no plots" in err


def test_cli_with_an_unknown_revision_says_so(
    cli: ModuleType, repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = expect_error(cli, ["no-such-rev", "--repo", str(repo), "--out", str(tmp_path)], capsys)
    assert "no-such-rev" in err


# ---------------------------------------------------------------- real browser


def near(rgb: np.ndarray, colour: tuple[int, int, int]) -> int:
    """How many pixels of `rgb` (floats 0-1) are `colour` within anti-aliasing."""
    return int((np.abs(rgb - np.array(colour) / 255).max(axis=-1) < 0.12).sum())


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_chromium_draws_both_revisions_curves(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
         "--window-size=1200,1400", page.as_uri()],
        capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    rgb = mpimg.imread(shot)[..., :3]
    # Legend dots are a few dozen pixels; a drawn curve is hundreds in each line plot.
    for rev, colour in REV_COLOURS.items():
        assert near(rgb, colour) > 150 * len(LINE_PLOTS), f"the {rev} curves are not drawn"


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_browser_check_script_passes_the_page(page: Path, tmp_path: Path) -> None:
    check = ROOT / "tools/check_plots_in_browser.sh"
    # TMPDIR: the script keeps its screenshot in a temporary folder; keep that in tmp_path.
    result = subprocess.run(
        [str(check), str(page)], env=env(TMPDIR=str(tmp_path)), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: line charts drawn" in result.stdout
