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


def copy_stage_code(dest: Path) -> Path:
    """Lay out ``dest`` like the repository for running one stage script: dvc.yaml, stages/
    and auxqual/ (no byte-code). Returns ``dest``."""
    import shutil

    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copy2(ROOT / "dvc.yaml", dest / "dvc.yaml")
    for package in ("stages", "auxqual"):
        shutil.copytree(ROOT / package, dest / package, ignore=ignore)
    return dest
