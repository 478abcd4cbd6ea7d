"""``auxqual.io``: what the loaders say about columns, and what the atomic writers leave on disk
(mode as the umask says, data on disk before the rename)."""

from __future__ import annotations

import os
import stat

import numpy as np
import pandas as pd
import pytest

from auxqual import io


@pytest.fixture
def umask():
    """Set the process umask for one test and restore it afterwards."""
    previous = os.umask(0o022)
    yield os.umask
    os.umask(previous)


WRITERS = {
    "parquet": lambda path: io.write_parquet(pd.DataFrame({"a": [1.0, 2.0]}), path),
    "csv": lambda path: io.write_csv(pd.DataFrame({"a": [1.0, 2.0]}), path),
    "json": lambda path: io.write_json({"a": 1}, path),
    "txt": lambda path: io.write_text("a\n", path),
}


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_written_files_get_the_mode_the_umask_says(tmp_path, umask, mask, kind):
    umask(mask)
    path = WRITERS[kind](tmp_path / f"out.{kind}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask  # 0o644 under 022, not mkstemp's 0o600
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_the_file_is_fsynced_before_it_is_renamed(tmp_path, monkeypatch):
    events: list[tuple[str, int]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.fstat(fd).st_ino))
        return real_fsync(fd)

    def replace(src, dst, **kwargs):
        events.append(("replace", os.stat(src).st_ino))
        return real_replace(src, dst, **kwargs)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    path = io.write_parquet(pd.DataFrame({"a": [1.0]}), tmp_path / "out.parquet")
    inode = path.stat().st_ino
    assert ("fsync", inode) in events and ("replace", inode) in events
    assert events.index(("fsync", inode)) < events.index(("replace", inode))


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc (a folder no one can write in)")
def test_a_write_that_cannot_start_names_the_target_not_a_temporary_file():
    with pytest.raises(OSError, match="/proc/out") as raised:
        io.write_text("a\n", "/proc/out.txt")
    assert raised.value.filename == "/proc/out.txt"


def test_write_csv_reads_back_the_same_floats(tmp_path):
    frame = pd.DataFrame({"x0": np.random.default_rng(0).normal(size=50) * 1e-7, "kind": ["a"] * 50})
    back = pd.read_csv(io.write_csv(frame, tmp_path / "t.csv"))
    pd.testing.assert_frame_equal(back, frame, check_exact=True)


def test_every_column_but_y_is_a_feature_and_a_text_column_is_named(tmp_path):
    frame = pd.DataFrame({"b": [1.0, 2.0, 3.0], "a": [4, 5, 6], "y": [0, 1, 0]})
    frame.to_csv(tmp_path / "t.csv", index=False)
    data = io.load_named_dataset(tmp_path / "t.csv")
    assert data.columns == ["b", "a"] and data.dropped == []
    np.testing.assert_array_equal(data.X, [[1, 4], [2, 5], [3, 6]])
    np.testing.assert_array_equal(data.y, [0, 1, 0])
    assert io.load_dataset(tmp_path / "t.csv")[0].shape == (3, 2)  # the old interface is unchanged
    assert io.read_table(tmp_path / "t.csv", role="train").dtypes == {"b": "float", "a": "integer"}
    frame.assign(name=["p", "q", "r"]).to_csv(tmp_path / "text.csv", index=False)
    with pytest.raises(ValueError, match=r"text.csv: row 0, column 'name': 'p' is not a number .*; line 2 of the"):
        io.load_named_dataset(tmp_path / "text.csv")


def test_npz_has_positional_names_and_a_generated_table_sets_its_provenance_aside(tmp_path):
    np.savez(tmp_path / "t.npz", X=np.ones((3, 2)), y=np.zeros(3))
    assert io.load_named_dataset(tmp_path / "t.npz").columns is None
    table = io.read_table(tmp_path / "t.npz", role="train")
    assert table.positional and table.columns == ["x0", "x1"]
    generated = io.features_frame(np.ones((3, 2)), {"generator": "local", "generator_params": "{}", "seed": 0,
                                                    "source_dataset": "", "source_row": -1})
    io.write_parquet(generated.rename(columns={"x0": "age", "x1": "bmi"}), tmp_path / "g.parquet")
    table = io.read_table(tmp_path / "g.parquet", role="aux")
    assert table.columns == ["age", "bmi"] and "seed" in table.provenance
    io.write_parquet(pd.DataFrame({"age": [1.0], "seed": [3]}), tmp_path / "user.parquet")
    assert io.read_table(tmp_path / "user.parquet", role="aux").columns == ["age", "seed"]  # a user's 'seed'


def test_stage_tables_of_the_benchmark_keep_their_x_convention(tmp_path):
    table = io.features_frame(np.ones((3, 2)), {"kind": ["a", "b", "c"], "y": [0, 0, 1]})
    assert io.feature_columns_of(table) == ["x0", "x1"]  # stages/ read their own tables this way
    io.write_parquet(table, tmp_path / "t.parquet")
    with pytest.raises(ValueError, match=r"t.parquet: row 0, column 'kind'"):  # a user's file: 'kind' is a feature
        io.read_table(tmp_path / "t.parquet", role="train")
