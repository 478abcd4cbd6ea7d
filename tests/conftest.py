"""Shared test configuration: where the shared fixtures and datasets live."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AUXQUAL_SHARED", ROOT.parent / "shared"))
EAP_FIXTURES = SHARED / "fixtures" / "eap-reference"

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def load_eap_fixture(case: str) -> dict[str, np.ndarray]:
    """Arrays of a reference case (cardio, pima), or skip when shared/ is absent."""
    path = EAP_FIXTURES / f"{case}.npz"
    if not path.exists():
        pytest.skip(f"EAP reference fixture {path} not found (set AUXQUAL_SHARED to the shared/ folder)")
    with np.load(path) as archive:
        return {key: archive[key] for key in archive.files}
