#!/usr/bin/env bash
# Does a plots page show its line charts in a real (headless) browser?
#
#   tools/check_plots_in_browser.sh PAGE.html [WIDTH,HEIGHT]
#
# Opens PAGE in headless Chromium twice: once to dump the DOM after scripts ran (so a page
# that draws with JavaScript, like `dvc plots diff`'s own, is judged on what it drew), once
# for a screenshot. Prints what was drawn and exits 0 when the page shows line charts:
# the DOM holds drawn charts (SVG line marks with a path, or a vega <canvas>) and the
# screenshot has coloured pixels (the curves; text and axes are grey). Exits 1 when the
# charts are blank, 2 on a usage or setup error. The screenshot is kept for a look:
# its path is printed. Made for tools/plots_offline.py's page; run on DVC's own
# dvc_plots/index.html offline it shows why that one is needed.
set -euo pipefail

usage() { echo "usage: $0 PAGE.html [WIDTH,HEIGHT]" >&2; exit 2; }
[[ $# -ge 1 && $# -le 2 ]] || usage
page=$1
size=${2:-1400,2400}
[[ -f $page ]] || { echo "error: $page: no such file" >&2; exit 2; }

root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$root/.venv/bin/python}
[[ -x $python ]] || python=python3

browser=""
for name in chromium chromium-browser google-chrome; do
    if command -v "$name" >/dev/null; then browser=$(command -v "$name"); break; fi
done
[[ -n $browser ]] || {
    echo "error: no chromium found (apt-get install chromium)" >&2
    exit 2
}

work=$(mktemp -d)
# The screenshot stays for a look; the browser's profile and logs go.
trap 'rm -rf "$work/profile" "$work/chromium.log"' EXIT
url="file://$(cd "$(dirname "$page")" && pwd)/$(basename "$page")"
shot="$work/screenshot.png"
# A fresh profile, no sandbox (root in a container), and virtual time so that scripts
# (and a CDN that cannot be reached) settle before the DOM is read.
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run
       --user-data-dir="$work/profile" --virtual-time-budget=5000 --window-size="$size")

if ! "$browser" "${flags[@]}" --dump-dom "$url" >"$work/dom.html" 2>"$work/chromium.log" ||
   ! "$browser" "${flags[@]}" --screenshot="$shot" "$url" >/dev/null 2>>"$work/chromium.log" ||
   [[ ! -s $shot ]]; then
    echo "error: chromium failed on $url:" >&2
    tail -5 "$work/chromium.log" >&2
    exit 2
fi

"$python" - "$work/dom.html" "$shot" "$page" <<'EOF'
"""Count the charts drawn in the dumped DOM and the coloured pixels of the screenshot."""

import sys
from html.parser import HTMLParser

import matplotlib.image as mpimg
import numpy as np

MIN_COLOURED = 200  # a drawn curve or two is hundreds of pixels; legend dots alone are few


class Charts(HTMLParser):
    """SVG line marks that have a path, vega canvases, scripts that load from the web."""

    def __init__(self) -> None:
        super().__init__()
        self.groups: list[bool] = []  # per open <g>: is it (inside) a line mark?
        self.svgs = self.line_paths = self.canvases = self.images = 0
        self.remote: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        inside = bool(self.groups and self.groups[-1])
        if tag == "g":
            self.groups.append(inside or "mark-line" in (a.get("class") or ""))
        elif tag == "path" and inside and (a.get("d") or "").strip():
            self.line_paths += 1
        elif tag == "svg":
            self.svgs += 1
        elif tag == "canvas":
            self.canvases += 1
        elif tag == "img":
            self.images += 1
        for key in ("src", "href"):
            if tag in ("script", "link") and (a.get(key) or "").startswith(("http:", "https:")):
                self.remote.append(a[key] or "")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag == "g":
            self.groups.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag == "g" and self.groups:
            self.groups.pop()


dom_path, shot_path, page = sys.argv[1:4]
charts = Charts()
charts.feed(open(dom_path, encoding="utf-8").read())
rgb = mpimg.imread(shot_path)[..., :3].astype(float)
if rgb.max() > 1:  # 8-bit PNGs can come back as integers
    rgb /= 255
non_white = (rgb.min(axis=-1) < 0.9).mean()
coloured = int((rgb.max(axis=-1) - rgb.min(axis=-1) > 0.25).sum())

print(f"page: {page}")
print(
    f"dom: {charts.svgs} <svg>, {charts.line_paths} line-mark paths, "
    f"{charts.canvases} <canvas>, {charts.images} <img>"
)
if charts.remote:
    print(f"dom: scripts/styles from the web: {', '.join(charts.remote)}")
print(
    f"screenshot: {rgb.shape[1]}x{rgb.shape[0]}, {non_white:.1%} non-white, "
    f"{coloured} coloured pixels ({shot_path})"
)
drawn = charts.line_paths + charts.canvases
if drawn and coloured >= MIN_COLOURED:
    print(f"OK: line charts drawn ({drawn} line marks/canvases, {coloured} coloured pixels)")
    sys.exit(0)
print("BLANK: no line chart was drawn" + (" (its scripts come from the web)" * bool(charts.remote)))
sys.exit(1)
EOF
