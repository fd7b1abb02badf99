"""Where the real captures and packets live, and the tshark the interop tests check against."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

TESTDATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "testdata"


@pytest.fixture
def testdata() -> Path:
    """The shared real-world packet material (never copied into the repository)."""
    if not TESTDATA.is_dir():
        pytest.fail(f"the shared test data is missing at {TESTDATA}")
    return TESTDATA


@pytest.fixture
def tshark() -> str:
    """The tshark binary; scripts/test-setup installs it."""
    found = shutil.which("tshark")
    if found is None:
        pytest.fail("tshark is not installed: run scripts/test-setup (or apt-get install tshark)")
    return found
