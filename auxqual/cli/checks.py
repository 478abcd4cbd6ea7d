"""Checks every sub-command runs before its expensive work: the output path, the inputs'
magnitudes, the memory a result needs (reading and matching the inputs is ``auxqual.io``'s
``read_table`` / ``align_columns``, the path every door shares). Each raises a ``ValueError`` whose
message names the option and the file, which ``auxqual.cli.main`` prints as one line
with exit code 2.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from auxqual.io import Table, names_text

MAX_ABS_VALUE = 1e150  # squares and squared distances of larger values overflow float64


def check_output(out: Path, inputs: Mapping[str, Sequence[str | os.PathLike]],
                 suffixes: Sequence[str]) -> None:
    """Refuse an ``--out`` that would destroy an input or cannot be written, before any work.

    ``inputs`` maps an option (``--aux``) to its paths. Refused: a suffix not in
    ``suffixes``, an existing folder, a path under a file, a folder the user cannot
    write in, and any input file (compared by resolved path and by ``samefile``, so
    links and ``./x`` count too).
    """
    for option, paths in inputs.items():
        for path in paths:
            if _same_file(out, Path(path)):
                raise ValueError(f"--out {out} is the input {option} {path}; refusing to overwrite an input")
    if out.suffix.lower() not in suffixes:
        raise ValueError(f"--out {out}: expected a path ending in {' or '.join(suffixes)}")
    if out.is_dir():
        raise ValueError(f"--out {out}: is a folder; give a file path")
    parent = _existing_ancestor(out)
    if not parent.is_dir():
        raise ValueError(f"--out {out}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"--out {out}: cannot write in {parent} (permission denied)")


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file: by inode when both exist and can be stat'ed,
    else by resolved path."""
    with contextlib.suppress(OSError):  # unreadable: fall back to comparing the paths
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def _existing_ancestor(path: Path) -> Path:
    """The nearest existing folder (or file) above ``path``: where it would be created."""
    parent = path.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return parent


def check_magnitude(X: np.ndarray, name: str, limit: float = MAX_ABS_VALUE) -> None:
    """Refuse values so large that squares and distances overflow (they would give NaN
    or meaningless scores); the message names the file, the first such cell and the value."""
    big = np.abs(X) > limit
    if big.any():
        rows, cols = np.nonzero(big)
        raise ValueError(f"{name}: {int(big.sum())} value(s) with |x| > {limit:.0e} (first at row {rows[0]}, "
                         f"column {cols[0]}: {X[rows[0], cols[0]]:.3g}); distances between rows would overflow, "
                         "rescale the data")


def note_provenance(table: Table) -> None:
    """Say on stderr (one line) which provenance columns of a generated table are not features."""
    if table.provenance:
        print(f"auxqual: note: {table.path}: provenance column(s) {names_text(list(table.provenance))} of a "
              "generated table are not features", file=sys.stderr)


def warn_if_tied(values: np.ndarray, what: str) -> None:
    """Warn (one line on stderr, not an error) when every score is the same value: such an
    output ranks nothing, and usually means the inputs' columns were mismatched."""
    values = np.asarray(values)
    if values.size > 1 and np.all(values == values.flat[0]):
        print(f"auxqual: warning: {what}: all {values.size} scores are equal ({values.flat[0]:.6g}); they rank "
              "nothing (check that the two files' columns match)", file=sys.stderr)


def check_finite_scores(values: np.ndarray, what: str) -> None:
    """Refuse scores that are NaN or infinite (never written with exit 0)."""
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(f"{what}: {int(bad.sum())} of {values.size} score(s) are NaN or infinite (first at row "
                         f"{int(np.flatnonzero(bad)[0])}); likely the feature values are too large or too close to "
                         "constant, so distances or densities overflow; rescale the data. Nothing was written")


def check_memory(n_rows: int, n_columns: int, option: str) -> None:
    """Refuse a result of ``n_rows`` × ``n_columns`` float64 values that cannot fit in memory."""
    need = n_rows * n_columns * 8
    available = available_memory()
    if available is not None and need > available:
        raise ValueError(f"{option} {n_rows}: the result alone needs {_bytes(need)} ({n_rows} rows × {n_columns} "
                         f"columns × 8 bytes), more than the {_bytes(available)} of memory available; "
                         f"give a smaller {option}")


def available_memory() -> int | None:
    """Bytes of memory available now (Linux ``MemAvailable``), else the physical memory, else None."""
    # no /proc (not Linux): physical memory
    with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/meminfo", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover
