"""Atomic writes, provenance and content hashes of vlencode.store."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vlencode import store


def test_atomic_zarr_writes_provenance_and_renames_into_place(tmp_path):
    path = tmp_path / "out.zarr"
    with store.atomic_zarr(path, params={"rate_hz": 200}, inputs={"h5": "abc"}) as group:
        group.create_array("signal", data=np.arange(6, dtype=np.float32).reshape(3, 2))
        assert not path.exists()
    group = store.open_zarr(path)
    assert group.attrs["params"] == {"rate_hz": 200}
    assert group.attrs["inputs"] == {"h5": "abc"}
    assert "vlencode_version" in group.attrs
    np.testing.assert_array_equal(group["signal"][:], np.arange(6, dtype=np.float32).reshape(3, 2))
    assert [p.name for p in tmp_path.iterdir()] == ["out.zarr"]


def test_failed_write_leaves_nothing_and_keeps_the_previous_store(tmp_path):
    path = tmp_path / "out.zarr"
    with store.atomic_zarr(path) as group:
        group.create_array("x", data=np.ones(3, dtype=np.float32))
    with pytest.raises(RuntimeError):
        with store.atomic_zarr(path) as group:
            group.create_array("x", data=np.zeros(3, dtype=np.float32))
            raise RuntimeError("killed mid-write")
    np.testing.assert_array_equal(store.open_zarr(path)["x"][:], np.ones(3, dtype=np.float32))
    assert [p.name for p in tmp_path.iterdir()] == ["out.zarr"]


def test_overwriting_a_store_replaces_it_whole(tmp_path):
    path = tmp_path / "out.zarr"
    for value in (1.0, 2.0):
        with store.atomic_zarr(path) as group:
            group.create_array("x", data=np.full(3, value, dtype=np.float32))
    np.testing.assert_array_equal(store.open_zarr(path)["x"][:], np.full(3, 2.0, dtype=np.float32))


def test_parquet_is_deterministic_and_carries_provenance(tmp_path):
    table = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    first, second = tmp_path / "1.parquet", tmp_path / "2.parquet"
    store.write_parquet(table, first, params={"k": 1})
    store.write_parquet(table, second, params={"k": 1})
    assert first.read_bytes() == second.read_bytes()
    pd.testing.assert_frame_equal(store.read_parquet(first), table)
    assert store.read_provenance(first)["params"] == {"k": 1}


def test_content_hash_of_a_tree_changes_with_any_byte(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.bin").write_bytes(b"abc")
    before = store.content_sha256(tmp_path / "d")
    (tmp_path / "d" / "a.bin").write_bytes(b"abd")
    assert store.content_sha256(tmp_path / "d") != before


def test_missing_store_error_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.zarr"):
        store.open_zarr(tmp_path / "nothing.zarr")


def test_a_rerun_removes_the_temporary_siblings_a_killed_writer_left(tmp_path):
    path = tmp_path / "out.zarr"
    # What SIGKILL leaves: a half-written directory and a complete file never renamed, from other process ids.
    (tmp_path / ".out.zarr.tmp-999-deadbeef" / "x").mkdir(parents=True)
    (tmp_path / ".out.zarr.tmp-998-cafecafe").write_text("half")
    (tmp_path / ".other.parquet.tmp-997-01234567").write_text("another output's writer")
    with store.atomic_zarr(path) as group:
        group.create_array("x", data=np.ones(3, dtype=np.float32))
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.parquet.tmp-997-01234567", "out.zarr"]
    store.write_parquet(pd.DataFrame({"a": [1]}), tmp_path / "other.parquet")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.parquet", "out.zarr"]


def test_zarr_and_parquet_provenance_read_back_the_same_way(tmp_path):
    with store.atomic_zarr(tmp_path / "s.zarr", params={"k": 1}, inputs={"a": "h"}) as group:
        group.create_array("x", data=np.ones(2))
    store.write_parquet(pd.DataFrame({"x": [1.0]}), tmp_path / "t.parquet", params={"k": 1}, inputs={"a": "h"})
    read = [store.read_provenance(tmp_path / name) for name in ("s.zarr", "t.parquet")]
    assert read[0] == read[1] == store.provenance({"k": 1}, {"a": "h"})
    with pytest.raises(FileNotFoundError, match="none.parquet"):
        store.read_provenance(tmp_path / "none.parquet")


def test_input_hashes_key_named_inputs_by_name_and_lists_by_path(tmp_path):
    from snakemake.iocontainers import Namedlist

    for name in ("a.bin", "b.bin", "c.bin"):
        (tmp_path / name).write_bytes(name.encode())
    with store.atomic_zarr(tmp_path / "s.zarr", params={"k": 1}) as group:
        group.create_array("x", data=np.ones(2))
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "f").write_bytes(b"f")
    a, b, c, s, plain = (str(tmp_path / n) for n in ("a.bin", "b.bin", "c.bin", "s.zarr", "plain"))
    inputs = Namedlist(toclone=[c])  # an unnamed input, then named ones as unpack adds them
    inputs.update({"one/0": a, "store": s, "plain": plain})
    inputs.append(b)  # a named list: Snakemake names a slice
    inputs._set_name("many", len(inputs) - 1, end=len(inputs))
    hashes = store.input_hashes(inputs)
    assert hashes == {
        "one/0": store.file_sha256(a),
        # a store this package wrote stands for itself by its root metadata (its own provenance)
        "store": store.file_sha256(tmp_path / "s.zarr" / "zarr.json"),
        "plain": store.content_sha256(plain),
        b: store.file_sha256(b),
        c: store.file_sha256(c),
    }
    assert store.input_hashes({"one/0": a, "many": [b]}) == {"one/0": hashes["one/0"], b: hashes[b]}


def test_a_large_input_is_read_once_while_its_identity_holds(tmp_path, monkeypatch):
    # A paper trial's raw file is recorded by preprocess and events: its digest is computed once, not per step.
    monkeypatch.setenv(store.CACHE_ENV, str(tmp_path / "cache"))
    raw = tmp_path / "sub_1_trial000.h5"
    raw.write_bytes(b"\1" * store.CACHED_BYTES)
    small = tmp_path / "labels.json"
    small.write_text("[]")
    hashed = []
    real = store.file_sha256
    monkeypatch.setattr(store, "file_sha256", lambda path: hashed.append(Path(path).name) or real(path))
    first = store.input_hashes({"raw": raw, "labels": small})
    assert first["raw"] == real(raw) and sorted(hashed) == ["labels.json", "sub_1_trial000.h5"]
    hashed.clear()
    assert store.input_hashes({"raw": raw}) == {"raw": first["raw"]}
    assert hashed == []
    raw.write_bytes(b"\2" * store.CACHED_BYTES)  # same size, new content: hashed again
    assert store.input_hashes({"raw": raw})["raw"] == real(raw) != first["raw"]
    assert hashed == ["sub_1_trial000.h5"]
    cache = json.loads((tmp_path / "cache" / "file-sha256.json").read_text())
    assert list(cache) == [str(raw.resolve())]  # one entry per file: the superseded one is dropped


def test_an_unwritable_digest_cache_only_costs_rereading(tmp_path, monkeypatch):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache directory would be")
    monkeypatch.setenv(store.CACHE_ENV, str(blocked))
    raw = tmp_path / "movie.mp4"
    raw.write_bytes(b"\3" * store.CACHED_BYTES)
    assert store.content_sha256(raw) == store.file_sha256(raw)


def test_a_chunk_damaged_in_place_fails_to_decode_instead_of_reading_as_other_values(tmp_path):
    # zstd without its checksum decoded a flipped bit of an epochs chunk into other responses, and a fit on them exited
    # 0 with other r, alphas and bootstrap values.
    path = tmp_path / "epochs.zarr"
    values = np.random.default_rng(0).standard_normal((100, 4)).astype(np.float32)
    with store.atomic_zarr(path) as group:
        store.create_array(group, "response", shape=(100, 4), chunks=(10, 4), dtype="float32")[:] = values
    np.testing.assert_array_equal(store.open_zarr(path)["response"][:], values)
    chunk = path / "response" / "c" / "3" / "0"
    damaged = bytearray(chunk.read_bytes())
    damaged[len(damaged) // 2] ^= 0x10
    chunk.write_bytes(bytes(damaged))
    with pytest.raises(RuntimeError, match="checksum"):
        store.open_zarr(path)["response"][:]


def test_every_store_array_is_created_with_the_checksummed_codec():
    # Arrays made with zarr's own create_array get its default zstd, without the checksum.
    src = Path(store.__file__).parent
    calls = [
        f"{path.relative_to(src)}:{number}"
        for path in sorted(src.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if ".create_array(" in line and path.name != "store.py"
    ]
    assert calls == [], "create arrays with vlencode.store.create_array"


def test_a_chunk_missing_from_a_finished_store_is_an_error_not_fill_values(tmp_path):
    # zarr reads a deleted chunk as the fill value: a neural store so damaged gave epochs of exact zeros.
    path = tmp_path / "neural.zarr"
    with store.atomic_zarr(path) as group:
        group.create_array("signal", shape=(100, 4), chunks=(10, 4), dtype="float32")[:] = np.zeros((100, 4))
    assert store.open_zarr(path)["signal"].nchunks_initialized == 10  # chunks of fill values are written too
    (path / "signal" / "c" / "3" / "0").unlink()
    with pytest.raises(
        ValueError, match=r"neural\.zarr: signal lacks 1 of its 10 chunks .*; delete the store and rerun"
    ):
        store.open_zarr(path)
