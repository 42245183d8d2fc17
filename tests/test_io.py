"""Atomic writes and the writers (hyperlab.io): nothing half-written, bytes that depend only on the data, the umask,
stale files of a stage folder removed."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest

from hyperlab import io


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "sub" / "out.json"
    with pytest.raises(RuntimeError):
        with io.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_atomic_path_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "out.json"
    io.write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with io.atomic_path(target) as tmp:
            tmp.write_text("{broken")
            raise RuntimeError("killed")
    assert json.loads(target.read_text()) == {"a": 1}


def test_writers_roundtrip(tmp_path):
    io.write_json(tmp_path / "m.json", {"x": np.float32(0.5), "y": np.arange(3), "z": float("nan")})
    assert json.loads((tmp_path / "m.json").read_text()) == {"x": 0.5, "y": [0, 1, 2], "z": None}
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    io.write_csv(tmp_path / "t.csv", frame)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "t.csv"), frame)
    io.write_npz(tmp_path / "a.npz", x=np.arange(4, dtype=np.uint8))
    with np.load(tmp_path / "a.npz") as npz:
        assert npz["x"].dtype == np.uint8 and npz["x"].tolist() == [0, 1, 2, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz", "m.json", "t.csv"]


def test_npz_bytes_depend_only_on_the_arrays(tmp_path, monkeypatch):
    arrays = {"x": np.arange(12, dtype=np.uint8).reshape(3, 4), "y": np.linspace(0, 1, 5)}
    io.write_npz(tmp_path / "a.npz", **arrays)
    later = time.time() + 3600.0  # zip timestamps have a 2-second resolution: an hour later would show
    monkeypatch.setattr(time, "time", lambda: later)
    io.write_npz(tmp_path / "b.npz", **arrays)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    with np.load(tmp_path / "a.npz") as npz:
        assert {k: npz[k].tolist() for k in npz.files} == {k: v.tolist() for k, v in arrays.items()}


def test_written_files_follow_the_umask(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        io.write_json(tmp_path / "m.json", {})
    finally:
        os.umask(old)
    assert (tmp_path / "m.json").stat().st_mode & 0o777 == 0o644


def test_write_tables_replaces_a_stage_folder_without_stale_files(tmp_path):
    folder = tmp_path / "plots" / "stage"
    frame = pd.DataFrame({"x": [1, 2]})
    io.write_tables(folder, {"a.csv": frame, "sub/b.csv": frame, "c.csv": frame})
    io.write_tables(folder, {"a.csv": frame, "sub/b2.csv": frame})
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.csv")) == ["a.csv", "sub/b2.csv"]
    pd.testing.assert_frame_equal(pd.read_csv(folder / "sub" / "b2.csv"), frame)
