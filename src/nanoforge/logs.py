"""Logging setup shared by every stage and command."""

from __future__ import annotations

import logging
import os


def setup_logging(level: str | None = None) -> None:
    """Log to stderr as `time level name: message`; `NANOFORGE_LOG=DEBUG` raises detail."""
    level = level or os.environ.get("NANOFORGE_LOG", "INFO")
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        force=True,
    )
    # urllib3 logs every retry and connection at DEBUG/WARNING; our session logs what matters.
    logging.getLogger("urllib3").setLevel(logging.ERROR)
