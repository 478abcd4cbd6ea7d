"""auxqual.userdata: strict loading of the user's tables and the schema between runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auxqual.userdata import align_to, check_schema_unchanged, load_project_data, load_user_table

PREVIOUS = {"temp": "float", "pressure": "float", "count": "integer"}


@pytest.mark.parametrize(("current", "named"), [
    ({"temp": "float", "pressure": "float", "count": "integer", "humidity": "float"}, "added ['humidity']"),
    ({"temp": "float", "count": "integer"}, "dropped ['pressure']"),
    ({"temperature": "float", "pressure": "float", "count": "integer"}, "column 'temp' renamed to 'temperature'"),
    ({"temp": "float", "pressure": "float", "count": "float"}, "'count' integer -> float"),
])
def test_a_schema_change_is_an_error_naming_the_column(current, named):
    with pytest.raises(ValueError, match=r"delete results/schema\.json") as error:
        check_schema_unchanged(PREVIOUS, current, path="data/train.parquet", record="results/schema.json")
    message = str(error.value)
    assert named in message and "data/train.parquet" in message and "delete results/schema.json" in message
    assert "\n" not in message


def test_the_same_schema_in_another_column_order_passes():
    check_schema_unchanged(PREVIOUS, dict(reversed(list(PREVIOUS.items()))), path="t", record="r")


def test_unlabelled_training_rows_count_as_normal_and_every_named_column_is_a_feature(tmp_path):
    frame = pd.DataFrame({"x1": [1.0, 2.0, 3.0], "age": [30, 40, 50], "bmi": [20.5, 22.0, 25.0],
                          "y": [np.nan, 1, 0]})
    frame.to_csv(tmp_path / "train.csv", index=False)
    table = load_user_table(tmp_path / "train.csv", role="train")
    assert table.columns == ["x1", "age", "bmi"]  # no name pattern decides what is a feature
    assert table.y.tolist() == [0, 1, 0]
    assert table.dtypes == {"x1": "float", "age": "integer", "bmi": "float"}


def test_a_validation_table_needs_every_label(tmp_path):
    pd.DataFrame({"a": [1.0, 2.0], "y": [1, np.nan]}).to_parquet(tmp_path / "v.parquet")
    with pytest.raises(ValueError, match=r"v.parquet: 1 empty label\(s\) in column 'y', first at row 1"):
        load_user_table(tmp_path / "v.parquet", role="validation")


def test_columns_are_matched_by_name_whatever_their_order(tmp_path):
    train = pd.DataFrame({"a": [0.0, 1.0], "b": [5.0, 6.0], "y": [0, 1]})
    aux = pd.DataFrame({"b": [7.0], "a": [2.0]})
    train.to_parquet(tmp_path / "train.parquet")
    aux.to_parquet(tmp_path / "aux.parquet")
    data = load_project_data(tmp_path / "train.parquet", None, {"cam": tmp_path / "aux.parquet"})
    assert data.X_aux["cam"].tolist() == [[2.0, 7.0]]


def test_an_npz_set_is_matched_by_the_names_x0_to_xd_and_refused_against_other_names(tmp_path):
    pd.DataFrame({"x0": [0.0, 1.0], "x1": [2.0, 3.0], "y": [0, 1]}).to_parquet(tmp_path / "train.parquet")
    np.savez(tmp_path / "aux.npz", X=np.array([[4.0, 5.0]]))
    train = load_user_table(tmp_path / "train.parquet", role="train")
    assert align_to(train, load_user_table(tmp_path / "aux.npz", role="aux")).tolist() == [[4.0, 5.0]]
    pd.DataFrame({"f0": [0.0], "f1": [1.0], "y": [0]}).to_parquet(tmp_path / "named.parquet")
    named = load_user_table(tmp_path / "named.parquet", role="train")
    with pytest.raises(ValueError, match=r"named.parquet: its named columns cannot be matched to .*aux.npz"):
        align_to(named, load_user_table(tmp_path / "aux.npz", role="aux"))
    by_position = align_to(named, load_user_table(tmp_path / "aux.npz", role="aux"), match_by_position=True)
    assert by_position.tolist() == [[4.0, 5.0]]


def test_a_renamed_column_is_named_as_missing_and_extra(tmp_path):
    pd.DataFrame({"a": [0.0, 1.0], "b": [2.0, 3.0], "y": [0, 1]}).to_parquet(tmp_path / "train.parquet")
    pd.DataFrame({"a": [0.0], "B": [1.0]}).to_parquet(tmp_path / "aux.parquet")
    with pytest.raises(ValueError, match=r"aux.parquet: .* missing \['b'\], extra \['B'\] \(renamed\?\)"):
        align_to(load_user_table(tmp_path / "train.parquet", role="train"),
                 load_user_table(tmp_path / "aux.parquet", role="aux"))
