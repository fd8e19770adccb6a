"""DVC plots as one HTML page that renders offline (no CDN, no scripts).

    .venv/bin/python tools/plots_offline.py                 # workspace vs HEAD
    .venv/bin/python tools/plots_offline.py HEAD~1 main     # any revisions, as `dvc plots diff`
    .venv/bin/python tools/plots_offline.py --out DIR --png # also a PNG per line plot

Writes DIR/index.html (default dvc_plots_offline/) and prints its path. `dvc plots diff`'s
own page loads vega from a CDN and shows blank line charts offline; this one has the
charts drawn in as SVG (see nanoforge.viz.offline_plots). Expected failures (no dvc, not
a DVC repository, no plots, an unknown revision) print one `error:` line and exit 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nanoforge.errors import NanoforgeError
from nanoforge.viz.offline_plots import DEFAULT_OUT, collect_plots, write_page

EXIT_ERROR = 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Render `dvc plots diff` to a self-contained HTML page that works offline."
    )
    parser.add_argument(
        "revs", nargs="*", metavar="REV", help="revisions to compare (none: workspace vs HEAD)"
    )
    parser.add_argument(
        "--out", type=Path, help=f"output folder (default: REPO/{DEFAULT_OUT})", metavar="DIR"
    )
    parser.add_argument("--repo", type=Path, default=Path("."), help="the DVC repository")
    parser.add_argument("--png", action="store_true", help="also write a PNG per line plot")
    parser.add_argument("--dvc", help="the dvc executable (default: the venv's, then PATH's)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        plots = collect_plots(args.repo, args.revs, dvc=args.dvc)
        page = write_page(plots, args.out or args.repo / DEFAULT_OUT, args.revs, png=args.png)
    except NanoforgeError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_ERROR
    for problem in plots.problems:  # the page lists them too
        print(f"warning: DVC could not load {problem}", file=sys.stderr)
    print(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
