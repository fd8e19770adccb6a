"""DVC plots as one self-contained HTML page that renders offline.

`dvc plots show/diff` writes an HTML page whose line charts are drawn in the browser by
vega, vega-lite and vega-embed loaded from a CDN: offline those charts stay blank (image
plots still show). This module asks DVC for the same plots as data instead
(`dvc plots diff [REVS...] --json`, an undocumented flag that DVC's VS Code extension
uses) and draws them here:

- a vega plot comes as a full vega-lite spec with every revision's data filled in
  (`content`, the same spec `dvc plots diff --show-vega` prints); vl-convert renders it
  to SVG in-process, with no browser and no network, and the SVG is inlined in the page;
- an image plot comes as one file per revision, written by DVC into the `-o` folder;
  its bytes are embedded as a `data:` URI.

The page has no scripts and no external URLs, so it shows the same thing in any browser,
online or not. `tools/plots_offline.py` is the command line over `render_offline`.
"""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from nanoforge.atomic import write_bytes, write_text
from nanoforge.errors import NanoforgeError

DEFAULT_OUT = Path("dvc_plots_offline")
PAGE_NAME = "index.html"
VEGA_LITE_VERSION = "5.21"
"""DVC's templates are vega-lite v5 specs (its HTML loads vega-lite 5.2); the newest v5
that vl-convert bundles draws them as DVC would, where the default (v6) might not."""
PNG_SCALE = 2.0
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
}


class PlotsError(NanoforgeError):
    """DVC cannot give the plots (not found, not a DVC repository, no plots, a bad rev)."""


@dataclass(frozen=True)
class RevImage:
    """One revision's version of an image plot."""

    rev: str
    mime: str
    data: bytes


@dataclass(frozen=True)
class Plot:
    """One plot of the page: a vega-lite spec (line plots) or images (image plots)."""

    name: str
    revisions: tuple[str, ...]
    spec: Mapping[str, Any] | None = None
    images: tuple[RevImage, ...] = ()


@dataclass(frozen=True)
class Plots:
    """What DVC gave: the plots, and one line per plot it could not load."""

    plots: list[Plot]
    problems: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------- dvc


def find_dvc(dvc: str | None = None) -> str:
    """The dvc executable: `dvc` if given, else the one beside this Python, else PATH's.

    The venv's own dvc comes first so that `.venv/bin/python tools/plots_offline.py`
    uses the pinned DVC even when the venv is not on PATH.
    """
    if dvc is not None:
        found = shutil.which(dvc)
    else:
        beside = Path(sys.executable).parent / "dvc"
        found = str(beside) if beside.is_file() else shutil.which("dvc")
    if found is None:
        where = repr(dvc) if dvc is not None else f"beside {sys.executable} nor on PATH"
        raise PlotsError(
            f"dvc not found ({where}); install the project (`make test` sets up .venv) "
            "or put dvc on PATH"
        )
    return found


def _dvc_error(result: subprocess.CompletedProcess[str]) -> str:
    """DVC's own `ERROR: ...` line, the most useful line of a failed run."""
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    errors = [line.removeprefix("ERROR:").strip() for line in lines if line.startswith("ERROR")]
    return (errors or lines or [f"exit status {result.returncode}"])[-1]


def run_dvc(dvc: str, args: Sequence[str], repo: Path) -> str:
    """Run `dvc ARGS` in `repo`; its stdout, or PlotsError with DVC's error line."""
    try:
        result = subprocess.run([dvc, *args], cwd=repo, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise PlotsError(f"dvc not found: {dvc}") from None
    except NotADirectoryError:
        raise PlotsError(f"{repo}: not a folder") from None
    if result.returncode != 0:
        raise PlotsError(f"dvc {' '.join(args[:2])} failed in {repo}: {_dvc_error(result)}")
    return result.stdout


def check_repo(repo: Path) -> None:
    """Refuse a folder outside a DVC repository (`dvc plots diff` prints `{}` in a bare one).

    DVC finds its root as the nearest folder with a .dvc/ in it, as `dvc root` does;
    looking here saves a DVC start-up (most of a second).
    """
    if not repo.is_dir():
        raise PlotsError(f"{repo}: no such folder")
    here = repo.resolve()
    if not any((folder / ".dvc").is_dir() for folder in (here, *here.parents)):
        raise PlotsError(f"{repo}: not inside a DVC repository (no .dvc/ here or above)")


def plots_json(dvc: str, repo: Path, revs: Sequence[str], images_dir: Path) -> dict[str, Any]:
    """`dvc plots diff REVS --json`, image files written into `images_dir`.

    No revs compares the workspace with HEAD. HEAD is named rather than left to DVC,
    which adds it only when git sees a tracked file changed: plot files that are DVC
    outputs (as dvclive's are here) are ignored by git, so after a re-run DVC would show
    the workspace alone. `--` keeps a rev that starts with `-` from reading as an option.
    """
    args = ["plots", "diff", "--json", "-o", str(images_dir), "--", *(revs or ["HEAD"])]
    out = run_dvc(dvc, args, repo)
    try:
        payload = json.loads(out)
    except json.JSONDecodeError as err:
        raise PlotsError(f"dvc plots diff --json printed no JSON ({err})") from None
    if not isinstance(payload, dict):
        raise PlotsError("dvc plots diff --json printed JSON that is not an object")
    return payload


# ---------------------------------------------------------------------- reading


def _read_image(url: str, rev: str) -> RevImage:
    """An image DVC wrote for `rev`; `url` is its path (or a data: URI without -o)."""
    if url.startswith("data:"):
        _, _, encoded = url.partition(",")
        return RevImage(rev, "image/png", base64.b64decode(encoded))
    path = Path(url)
    mime = IMAGE_TYPES.get(path.suffix.lower(), "application/octet-stream")
    return RevImage(rev, mime, path.read_bytes())


def _plot(name: str, entries: Sequence[Mapping[str, Any]]) -> Plot | None:
    """The plot named `name` from its `--json` entries (one per revision for images)."""
    if not entries:  # DVC lists a plot it could not load with no entries
        return None
    revs = tuple(rev for entry in entries for rev in entry.get("revisions", []))
    if entries[0].get("type") == "vega":
        return Plot(name, revs, spec=entries[0]["content"])
    images = tuple(_read_image(e["url"], e["revisions"][0]) for e in entries if e.get("url"))
    return Plot(name, revs, images=images)


def _problem(error: Mapping[str, Any]) -> str:
    """One line for an entry of the `errors` list of `--json`."""
    where = " ".join(str(error[k]) for k in ("name", "rev") if error.get(k))
    msg = " ".join(str(error.get("msg", "")).split())  # some of DVC's span lines
    return f"{where}: {error.get('type', 'error')}: {msg}".strip(": ")


def parse_plots(payload: Mapping[str, Any]) -> Plots:
    """The plots of a `dvc plots diff --json` payload, image bytes read in.

    Plots come in DVC's order and under DVC's ids: a file declared both in a stage's
    `plots:` and in the top-level `plots:` comes twice (`F` and `dvc.yaml::F`), as on
    DVC's own page.
    """
    found = (_plot(name, entries) for name, entries in payload.get("data", {}).items())
    problems = [_problem(e) for e in payload.get("errors", [])]
    return Plots([plot for plot in found if plot is not None], problems)


def describe_revs(revs: Sequence[str]) -> str:
    """What `dvc plots diff REVS` compares: one rev (or none) is set against the workspace."""
    if len(revs) <= 1:
        return f"workspace vs {revs[0] if revs else 'HEAD'}"
    return " vs ".join(revs)


def collect_plots(
    repo: str | Path = ".", revs: Sequence[str] = (), dvc: str | None = None
) -> Plots:
    """Ask DVC in `repo` for the plots of `revs` (none: workspace vs HEAD)."""
    repo = Path(repo)
    exe = find_dvc(dvc)
    check_repo(repo)
    # DVC writes each image plot's files into -o; read them before the folder goes.
    with tempfile.TemporaryDirectory(prefix="dvc-plots-") as images_dir:
        plots = parse_plots(plots_json(exe, repo, revs, Path(images_dir)))
    if not plots.plots:
        why = f" ({plots.problems[0]})" if plots.problems else ""
        raise PlotsError(
            f"no plots in {repo} for {describe_revs(revs)}{why}: declare them under `plots:` in "
            "dvc.yaml and make sure their files exist"
        )
    return plots


# -------------------------------------------------------------------- rendering


def _vl_convert() -> ModuleType:
    """vl_convert, imported on first use so that `--help` and errors stay fast."""
    try:
        import vl_convert
    except ImportError:
        raise PlotsError(
            "vl-convert-python is not installed; it is a dependency of nanoforge: "
            "run `.venv/bin/pip install -e .`"
        ) from None
    return vl_convert


def render_svg(spec: Mapping[str, Any]) -> str:
    """The vega-lite `spec` drawn as SVG text; external data is refused (offline)."""
    try:
        return _vl_convert().vegalite_to_svg(
            dict(spec), vl_version=VEGA_LITE_VERSION, allowed_base_urls=[]
        )
    except ValueError as err:
        raise PlotsError(_first_line(err)) from None


def render_png(spec: Mapping[str, Any], scale: float = PNG_SCALE) -> bytes:
    """The vega-lite `spec` drawn as a PNG at `scale` times its size."""
    try:
        return _vl_convert().vegalite_to_png(
            dict(spec), vl_version=VEGA_LITE_VERSION, scale=scale, allowed_base_urls=[]
        )
    except ValueError as err:
        raise PlotsError(_first_line(err)) from None


def _first_line(err: Exception) -> str:
    # vl-convert's message is a JS stack trace; its first two lines say what went wrong.
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return " ".join(lines[:2]) or type(err).__name__


_ID = re.compile(r'\bid="([^"]+)"')
_ID_REF = re.compile(r'(url\(#|href="#)([^)"]+)')
_ROOT_NS = re.compile(r'\s+xmlns(?::xlink)?="[^"]*"')


def inline_svg(svg: str, prefix: str) -> str:
    """`svg` made fit to sit inside an HTML page beside other SVGs.

    Each SVG from vl-convert numbers its clip paths (`clip1`, ...); in one page the ids
    share one namespace, so they get a per-plot prefix. The namespace declarations go:
    the HTML parser puts <svg> in the SVG namespace by itself, and the page then holds
    no URL at all.
    """
    svg = _ID.sub(lambda m: f'id="{prefix}{m[1]}"', svg)
    svg = _ID_REF.sub(lambda m: f"{m[1]}{prefix}{m[2]}", svg)
    head, sep, rest = svg.partition(">")
    return _ROOT_NS.sub("", head) + sep + rest


def slug(name: str) -> str:
    """A file-name-safe form of a plot name (`reports/a/loss.tsv` -> `reports_a_loss.tsv`)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "plot"


# ------------------------------------------------------------------------- page

STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; background: #fff; }
h1 { font-size: 1.3em; margin: 0 0 .2em; }
.meta { color: #666; margin: 0 0 1em; }
.plots { display: flex; flex-wrap: wrap; gap: 1.5em; }
.plot { border: 1px solid #ddd; border-radius: 4px; padding: .8em; }
.plot h2 { font-size: 1em; margin: 0 0 .3em; font-family: monospace; }
.plot .revs { color: #666; font-size: .85em; margin: 0 0 .5em; }
.images { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; }
figcaption { color: #666; font-size: .85em; text-align: center; }
img { max-width: 600px; height: auto; }
.problems { color: #a40; }
"""


def _section(index: int, plot: Plot, body: str) -> str:
    revs = ", ".join(plot.revisions)
    return (
        f'<section class="plot" id="plot-{index}">\n'
        f"<h2>{html.escape(plot.name)}</h2>\n"
        f'<p class="revs">{html.escape(revs)}</p>\n{body}\n</section>'
    )


def _image_body(plot: Plot) -> str:
    figures = []
    for image in plot.images:
        uri = f"data:{image.mime};base64,{base64.b64encode(image.data).decode('ascii')}"
        alt = html.escape(f"{plot.name} at {image.rev}")
        figures.append(
            f'<figure><img src="{uri}" alt="{alt}">'
            f"<figcaption>{html.escape(image.rev)}</figcaption></figure>"
        )
    return f'<div class="images">{"".join(figures)}</div>'


def _vega_body(index: int, spec: Mapping[str, Any], png_name: str | None) -> str:
    try:
        svg = inline_svg(render_svg(spec), f"p{index}-")
    except PlotsError as err:
        return f'<p class="problems">could not draw this plot: {html.escape(str(err))}</p>'
    link = f'<p><a href="{html.escape(png_name)}">PNG</a></p>' if png_name else ""
    return f'<figure class="chart">{svg}</figure>{link}'


def build_page(plots: Plots, revs: Sequence[str], png_names: Mapping[str, str]) -> str:
    """The HTML page: a title, one section per plot, DVC's problems at the end."""
    revisions = describe_revs(revs)
    sections = [
        _section(
            i,
            plot,
            _vega_body(i, plot.spec, png_names.get(plot.name))
            if plot.spec is not None
            else _image_body(plot),
        )
        for i, plot in enumerate(plots.plots, start=1)
    ]
    problems = "".join(f"<li>{html.escape(p)}</li>" for p in plots.problems)
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            '<head><meta charset="utf-8">',
            f"<title>DVC plots: {html.escape(revisions)}</title>",
            f"<style>{STYLE}</style></head>",
            "<body>",
            f"<h1>DVC plots: {html.escape(revisions)}</h1>",
            f'<p class="meta">{len(plots.plots)} plots, drawn offline from '
            "<code>dvc plots diff --json</code></p>",
            f'<div class="plots">\n{chr(10).join(sections)}\n</div>',
            f'<h2 class="problems">DVC could not load</h2><ul class="problems">{problems}</ul>'
            if problems
            else "",
            "</body></html>",
            "",
        ]
    )


def write_pngs(plots: Plots, out_dir: Path) -> dict[str, str]:
    """A PNG beside the page for each vega plot that draws; {plot name: file name}."""
    names: dict[str, str] = {}
    for plot in plots.plots:
        if plot.spec is None:
            continue
        try:
            png = render_png(plot.spec)
        except PlotsError:
            continue  # the page says why this plot is missing
        names[plot.name] = f"{slug(plot.name)}.png"
        write_bytes(out_dir / names[plot.name], png)
    return names


def write_page(
    plots: Plots, out_dir: str | Path = DEFAULT_OUT, revs: Sequence[str] = (), png: bool = False
) -> Path:
    """Write `out_dir/index.html` (and PNGs with `png`); return the page's path."""
    _vl_convert()  # a missing renderer is one error, not a broken chart per plot
    out_dir = Path(out_dir)
    png_names = write_pngs(plots, out_dir) if png else {}
    page = out_dir / PAGE_NAME
    write_text(page, build_page(plots, revs, png_names))
    return page


def render_offline(
    repo: str | Path = ".",
    revs: Sequence[str] = (),
    out_dir: str | Path | None = None,
    png: bool = False,
    dvc: str | None = None,
) -> Path:
    """Collect `repo`'s plots for `revs` and write the offline page; return its path.

    `out_dir` defaults to `dvc_plots_offline/` inside `repo`.
    """
    _vl_convert()  # fail before running DVC when the renderer is missing
    plots = collect_plots(repo, revs, dvc)
    target = Path(out_dir) if out_dir is not None else Path(repo) / DEFAULT_OUT
    return write_page(plots, target, revs, png)
