"""Shared test configuration: where the shared fixtures and datasets live.

A file is read from the sibling ``../shared`` folder (``$AUXQUAL_SHARED``; datasets:
``$AUXQUAL_SHARED_DATASETS``) when it is there, else from the copy bundled under ``tests/data``
(same layout, see tests/data/README.md), so that a bare clone runs the tests too. A test skips,
naming both places, only when neither has the file (the MVTec image embeddings are not bundled).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AUXQUAL_SHARED", ROOT.parent / "shared"))
SHARED_DATASETS = Path(os.environ.get("AUXQUAL_SHARED_DATASETS", ROOT.parent / "shared" / "datasets"))
EAP_FIXTURES = SHARED / "fixtures" / "eap-reference"
BUNDLED = Path(__file__).resolve().parent / "data"  # copies of a few shared files, same layout

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def _shared_or_bundled(shared: Path, bundled: Path, hint: str) -> Path:
    """``shared`` when it exists, else ``bundled``; skip naming both when neither does."""
    for path in (shared, bundled):
        if path.is_file():
            return path
    pytest.skip(f"{shared} not found ({hint}) and no copy bundled at {bundled.relative_to(ROOT)} "
                f"(see tests/data/README.md)")


def eap_fixture_path(case: str) -> Path:
    """The ``.npz`` of an EAP reference case: from shared/ when present, else tests/data."""
    name = f"{case}.npz"
    return _shared_or_bundled(EAP_FIXTURES / name, BUNDLED / "fixtures" / "eap-reference" / name,
                              "set AUXQUAL_SHARED to the shared/ folder")


def dataset_path(relative: str) -> Path:
    """A dataset under the shared datasets folder, e.g. ``adbench/tabular/6_cardio.npz``: from
    there when present, else from tests/data/datasets."""
    return _shared_or_bundled(SHARED_DATASETS / relative, BUNDLED / "datasets" / relative,
                              "set AUXQUAL_SHARED_DATASETS to the folder holding adbench/")


def load_eap_fixture(case: str) -> dict[str, np.ndarray]:
    """Arrays of a reference case (cardio, pima); see tests/data/README.md for their provenance."""
    with np.load(eap_fixture_path(case)) as archive:
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


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory):
    """Prefect's test harness (a temporary API and database), started once per test session
    and shared by every test that talks to Prefect; yields the API URL."""
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    home = tmp_path_factory.mktemp("prefect-home")
    with temporary_settings(updates={PREFECT_HOME: str(home)}), prefect_test_harness(server_startup_timeout=120):
        yield PREFECT_API_URL.value()


# The test files that take minutes, longest first: pytest-xdist (scripts/test.sh, --dist loadfile)
# hands out files in collection order, so starting these first keeps one of them from being the
# last file of a run while the other workers idle.
LONG_FILES = ("test_project_flow.py", "test_flows.py", "test_pipeline_dvc.py", "test_cluster.py",
              "test_project.py", "test_iforest_compiled.py", "test_select_stage.py", "test_docs.py")


def pytest_collection_modifyitems(config, items) -> None:
    """Collect the long files first (in ``LONG_FILES`` order), the rest in their usual order."""
    def rank(item) -> int:
        name = item.path.name
        return LONG_FILES.index(name) if name in LONG_FILES else len(LONG_FILES)

    items.sort(key=rank)  # stable: tests keep their order inside a file
