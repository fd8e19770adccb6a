"""Making and saving figures, shared by every plot in viz/.

Figures are `matplotlib.figure.Figure` objects made directly, never through pyplot: no
global registry keeps them alive or picks a GUI backend, so there is nothing to close and
plotting works the same in a test, a DVC stage or a headless server. Saving a PNG renders
it with Agg whatever the configured backend.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from nanoforge.atomic import atomic_path

DPI = 150
"""Resolution of saved PNGs: sharp enough for small tick labels, files stay small."""


def new_figure(width: float, height: float) -> Figure:
    """A figure of `width` x `height` inches whose layout keeps labels inside it."""
    return Figure(figsize=(width, height), layout="constrained")


def save_png(fig: Figure, path: str | Path, dpi: int = DPI) -> Path:
    """Write `fig` as a PNG to `path` atomically; return the path.

    bbox_inches="tight" grows the saved area to whatever text sticks out (long tick
    labels, a suptitle), so nothing is clipped.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        # The temporary name ends in .tmp, so the format is named rather than guessed.
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    return path
