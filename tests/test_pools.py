"""Process pools that share a process: EAP's and joblib's, and the process runner's
workers' thread caps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import ROOT


@pytest.mark.slow  # three worker processes start and import torch (~25 s on 2 busy cores)
def test_a_baseline_on_a_loky_pool_runs_after_eap_in_the_same_process():
    """The Q1 recipe's order: EAP, then a baseline's ``Parallel(n_jobs=2)``. EAP used to
    leave loky's process-wide reusable executor behind, and joblib failed on it with
    ``'_ReusablePoolExecutor' object has no attribute '_temp_folder_manager'``. A fresh
    interpreter, so that no earlier test has already created joblib's executor."""
    code = textwrap.dedent("""
        import numpy as np
        from auxqual.quality import EAP, make_scorer
        rng = np.random.default_rng(0)
        X, y = rng.normal(size=(40, 2)), np.r_[np.ones(3, int), np.zeros(37, int)]
        EAP(n_subsets=3, n_jobs=2).fit(X, y)
        oob = make_scorer("data_oob", n_models=4, n_jobs=2).fit(X, y).score_samples(X[:5])
        print(np.isfinite(oob).all())
    """)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "True"


def test_process_runner_workers_cap_the_blas_libraries_already_loaded(tmp_path):
    """A stage script imports NumPy at the top, so a spawned worker has loaded OpenBLAS
    before its initializer runs: setting ``OPENBLAS_NUM_THREADS`` then changes nothing;
    threadpoolctl must cap the loaded libraries to ``cpu_count // workers``."""
    script = tmp_path / "stage.py"
    script.write_text(textwrap.dedent(f"""
        import json, os, sys
        import numpy  # loaded in every worker before the pool's initializer, as in a stage
        sys.path.insert(0, {str(ROOT)!r})
        from stages.fanout import run_cells

        def threads(cell):
            from threadpoolctl import threadpool_info
            return {{info["filepath"]: info["num_threads"] for info in threadpool_info()}}

        if __name__ == "__main__":
            print(json.dumps(run_cells(threads, [0, 1], runner="process", workers=2)))
    """))
    done = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    limit = max(1, (os.cpu_count() or 1) // 2)
    per_worker = json.loads(done.stdout.splitlines()[-1])
    assert all(per_worker), "no BLAS / OpenMP library was loaded in the workers"
    assert {n for libraries in per_worker for n in libraries.values()} == {limit}
    assert all(any("openblas" in path for path in libraries) for libraries in per_worker)
