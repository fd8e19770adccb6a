"""The common entry point of stage scripts: logging, params, and one-line errors."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from nanoforge.errors import NanoforgeError
from nanoforge.logs import setup_logging

log = logging.getLogger("nanoforge")


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage's `main`; an expected failure prints one `error:` line and exits 1."""
    setup_logging()
    try:
        main()
    except NanoforgeError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("error: interrupted; outputs written so far are complete files", file=sys.stderr)
        sys.exit(130)
