"""Shared test fixtures: the real recorded data in ../shared, and the project root."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
FIXTURES = SHARED / "fixtures"


@pytest.fixture(scope="session")
def fixtures() -> Path:
    """`../shared/fixtures`: real arXiv, Genius and CSV data (read in place, never copied)."""
    if not FIXTURES.is_dir():
        pytest.skip(f"{FIXTURES} not found: clone the project beside its shared/ folder")
    return FIXTURES
