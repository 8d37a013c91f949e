"""The data check before step 1: each kind of wrong data found, named by file and sample, cached by file."""

import logging
import re
import shutil
import tracemalloc

import numpy as np
import pytest
from omegaconf import open_dict

from fwilab.config.groups import read_data
from fwilab.data.build import build_data
from fwilab.data.openfwi import FilePair
from fwilab.errors import ConfigError, DataError
from helpers import compose_train

SAMPLES = 2  # per file


def _write_set(root, files=3, seismic_scale=10.0):
    """Files 1..files-1 train, the last one validation, listed in train.txt / val.txt; plausible values."""
    root.mkdir(parents=True, exist_ok=True)
    pairs = []
    for number in range(1, files + 1):
        rng = np.random.default_rng(number)
        pair = FilePair(root / f"data{number}.npy", root / f"model{number}.npy")
        np.save(pair.seismic, (rng.normal(size=(SAMPLES, 5, 1000, 70)) * seismic_scale).astype(np.float32))
        np.save(pair.velocity, rng.uniform(1500, 4500, size=(SAMPLES, 1, 70, 70)).astype(np.float32))
        pairs.append(pair)
    (root / "train.txt").write_text("".join(f"data{n}.npy\tmodel{n}.npy\n" for n in range(1, files)))
    (root / "val.txt").write_text(f"data{files}.npy\tmodel{files}.npy\n")
    return pairs


def _config(root, *overrides):
    cfg = compose_train("data=curvefault_a", "data.train_split=train.txt", "data.val_split=val.txt", *overrides).data
    with open_dict(cfg):
        cfg.root = str(root)
    return cfg


def _edit(path, change):
    array = np.load(path)
    change(array)
    np.save(path, array)


def _warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "fwilab.data.check" and r.levelno >= logging.WARNING]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("FWILAB_DATA_DIR", str(folder))
    return folder


def test_a_clean_set_passes_and_a_rerun_reads_no_sample_again(tmp_path, cache, caplog):
    root = tmp_path / "set"
    _write_set(root)
    before = sorted(p.name for p in root.iterdir())
    with caplog.at_level("INFO", logger="fwilab.data.check"):
        build_data(read_data(_config(root)))
        build_data(read_data(_config(root)))
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("data check:")]
    assert (
        "6 samples of 3 file pairs" in lines[0] and "0 pairs from the cache" in lines[0] and "0 finding(s)" in lines[0]
    )
    assert "0.00 GB read" in lines[1] and "3 pairs from the cache" in lines[1]
    assert len(list((cache / "checks").glob("*.json"))) == 6  # one per file: seismic and velocity of 3 pairs
    assert sorted(p.name for p in root.iterdir()) == before  # nothing written beside the data


def test_nan_and_inf_stop_the_run_naming_file_and_sample(tmp_path, cache, caplog):
    root = tmp_path / "set"
    pairs = _write_set(root)
    build_data(read_data(_config(root)))  # clean, now cached
    _edit(pairs[1].seismic, lambda a: a.__setitem__((1, 2, 300, 7), np.nan))
    _edit(pairs[2].velocity, lambda a: a.__setitem__((0, 0, 5, 5), np.inf))
    with pytest.raises(DataError, match=r"data2\.npy sample 1: NaN or Inf values \(and 1 more finding"):
        build_data(read_data(_config(root)))  # the changed files are scanned again, not read from the cache
    assert any("model3.npy sample 0: NaN or Inf" in line for line in _warnings(caplog))
    caplog.clear()
    data = build_data(read_data(_config(root, "data.check=warn")))
    assert len(data.train) == 4 and len(_warnings(caplog)) == 2


def _fast_patch(velocity):
    velocity[1, 0, 30:40, 20:50] = 9000.0
    return velocity


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda v: v / 1000,
            r"samples 0, 1 \(2 of 2\): velocity 1\.5\d* \.\. 4\.49\d*, outside 1500 \.\. 4500 m/s: .*km/s",
        ),
        (lambda v: -v, r"samples 0, 1 \(2 of 2\): velocity -4499\.\d* \.\. -1500\.\d*, .*: negative velocity"),
        (
            _fast_patch,
            r"sample 1: velocity 1500\.\d* \.\. 9000, outside 1500 \.\. 4500 m/s: outside the family's range",
        ),
    ],
    ids=["km/s", "negative", "9000 m/s patch"],
)
def test_velocity_out_of_range_warns_with_its_likely_cause(tmp_path, cache, caplog, change, message):
    root = tmp_path / "set"
    pairs = _write_set(root)
    np.save(pairs[0].velocity, change(np.load(pairs[0].velocity)).astype(np.float32))
    build_data(read_data(_config(root)))  # a warning by default, not a stop
    [line] = _warnings(caplog)
    assert line.startswith(f"data check (train): {pairs[0].velocity} ")
    assert re.search(message, line), line


def test_seismic_scaled_by_1000_is_named(tmp_path, cache, caplog):
    root = tmp_path / "set"
    pairs = _write_set(root)
    _edit(pairs[2].seismic, lambda a: a.__imul__(1000))
    build_data(read_data(_config(root)))
    [line] = _warnings(caplog)
    peak = float(np.abs(np.load(pairs[2].seismic)).max())
    assert f"data check (val): {pairs[2].seismic} samples 0, 1 (2 of 2): seismic reaches {peak:g}" in line
    assert f"{peak / 52.32:.0f}x the normalization range -26.48 .. 52.32" in line


@pytest.mark.parametrize(
    "array, change, unit",
    [
        ("velocity", lambda a: a.__itruediv__(1000), r"velocity in km/s \(OpenFWI's is in m/s: multiply by 1000\)"),
        ("seismic", lambda a: a.__imul__(1000), r"seismic scaled by about 1000 \(divide by 1000"),
    ],
    ids=["km/s", "seismic x1000"],
)
def test_a_set_off_in_every_file_is_refused_naming_the_unit(tmp_path, cache, caplog, array, change, unit):
    root = tmp_path / "set"
    pairs = _write_set(root)
    for pair in pairs:
        _edit(getattr(pair, array), change)
    with pytest.raises(DataError, match=rf"every file pair of the data set \(3 of 3\) looks like {unit}"):
        build_data(_config(root))
    caplog.clear()
    build_data(_config(root, "data.check=warn"))  # trains anyway when asked to, one warning per file and the set
    assert len(_warnings(caplog)) == 4


def test_a_file_in_both_splits_stops_the_run(tmp_path, cache):
    root = tmp_path / "set"
    _write_set(root)
    (root / "val.txt").write_text("data1.npy\tmodel1.npy\n")
    with pytest.raises(DataError, match=r"data check: .*/set/data1\.npy is in both train and val"):
        build_data(read_data(_config(root)))
    shutil.copy(root / "data2.npy", root / "data9.npy")
    shutil.copy(root / "model2.npy", root / "model9.npy")
    (root / "val.txt").write_text("data9.npy\tmodel9.npy\n")
    with pytest.raises(
        DataError, match=r"val file .*data9\.npy begins with the same sample as train file .*data2\.npy"
    ):
        build_data(read_data(_config(root)))


def test_check_off_reads_nothing_and_a_bad_value_is_refused(tmp_path, cache):
    root = tmp_path / "set"
    pairs = _write_set(root)
    _edit(pairs[0].seismic, lambda a: a.__setitem__((0, 0, 0, 0), np.nan))
    build_data(read_data(_config(root, "data.check=off")))
    assert not (cache / "checks").exists()
    with pytest.raises(ConfigError, match=r"data\.check='strict' is not one of error, warn, off"):
        build_data(read_data(_config(root, "data.check=strict")))


def test_the_scan_keeps_memory_flat(tmp_path, cache):
    root = tmp_path / "set"
    _write_set(root, files=9)  # 18 samples, 25 MB of seismic
    tracemalloc.start()
    try:
        build_data(read_data(_config(root)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1.4e6  # a few samples (1.4 MB each) at a time, not a file (2.8 MB) or the set (25 MB)


def test_a_subset_scans_only_the_samples_it_uses(tmp_path, cache, caplog):
    root = tmp_path / "set"
    pairs = _write_set(root, files=5)
    data = build_data(read_data(_config(root, "data.train_samples=3")))
    unused = sorted(set(range(8)) - set(data.train.indices.tolist()))[0]
    _edit(pairs[unused // SAMPLES].seismic, lambda a: a.__setitem__((unused % SAMPLES, 0, 0, 0), np.nan))
    build_data(read_data(_config(root, "data.train_samples=3")))  # the NaN sample is not one the run uses
    with pytest.raises(DataError, match="NaN or Inf"):
        build_data(read_data(_config(root)))
