"""The data-set writer: OpenFWI layout, metadata, determinism, resume, atomic files, preview."""

import json
import os
import threading
import time

import numpy as np
import pytest
from omegaconf import open_dict
from PIL import Image

from fwilab.config.groups import read_data
from fwilab.data.build import build_data
from fwilab.data.openfwi import read_split_file
from fwilab.data.synthetic import generate as generate_module
from fwilab.data.synthetic.generate import GenerationPlan, ensure_dataset, generate_dataset, generation_lock
from fwilab.errors import DataError
from fwilab.tasks.generate import write_preview, write_report
from helpers import compose_train
from helpers.openfwi_download import write_download

PLAN = GenerationPlan("flatfault_a", n_train=5, n_val=3, seed=9, samples_per_file=2)


def _files(root):
    return sorted(p.relative_to(root) for p in root.rglob("*.npy"))


def test_layout_split_files_and_metadata(tiny_dataset):
    metadata = json.loads((tiny_dataset / "metadata.json").read_text())
    assert metadata["family"] == "curvefault_a" and metadata["n_train"] == 16 and metadata["n_val"] == 8
    assert metadata["generator_version"] == generate_module.GENERATOR_VERSION
    train = read_split_file(tiny_dataset / "train.txt", tiny_dataset)
    val = read_split_file(tiny_dataset / "val.txt", tiny_dataset)
    assert [p.seismic.name for p in train] == ["data1.npy", "data2.npy"]
    assert [p.velocity.name for p in val] == ["model3.npy"]
    seismic = np.concatenate([np.load(p.seismic) for p in train + val])
    assert seismic.shape == (24, 5, 1000, 70) and seismic.dtype == np.float32
    assert (metadata["data_min"], metadata["data_max"]) == (-26.48, 52.32)  # OpenFWI's CurveFault-A constants
    assert metadata["observed_data_min"] == float(seismic.min()) and metadata["observed_data_max"] == float(
        seismic.max()
    )
    statistics = {row["statistic"]: row for row in metadata["faithfulness"]}
    assert statistics["top_row_velocity.min"]["generated"] == float(
        np.concatenate([np.load(p.velocity) for p in train + val])[:, 0, 0].min()
    )
    assert statistics["monotonic_share"]["real"] == 0.41 and statistics["monotonic_share"]["bounds"] == [0.32, 0.48]
    assert np.load(val[0].velocity).shape == (8, 1, 70, 70)


def test_a_second_asker_waits_on_fwilabs_file_lock_then_uses_the_set(tmp_path, caplog):
    """The generator's lock is the run lock's file (O_EXCL, which holds on NFS and Lustre), not flock: while another
    process holds it (here this test), ensure_dataset waits; once it is released, it generates and unlocks."""
    out, asked = tmp_path / "set", {}
    holder = generation_lock(out).acquire()
    asker = threading.Thread(target=lambda: asked.update(metadata=ensure_dataset(out, PLAN, device="cpu")))
    with caplog.at_level("INFO", logger="fwilab.run_lock"):
        asker.start()
        while not any(r.getMessage().startswith(f"waiting for {holder.path}") for r in caplog.records):
            assert asker.is_alive(), "ensure_dataset went ahead while the lock was held"
            time.sleep(0.01)
    assert not (out / "metadata.json").exists()
    holder.release()
    asker.join(timeout=600)
    assert asked["metadata"] == json.loads((out / "metadata.json").read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]  # the lock file beside it is gone


def test_same_seed_gives_byte_identical_files(tmp_path):
    generate_dataset(tmp_path / "a", PLAN, progress=False)
    generate_dataset(tmp_path / "b", PLAN, batch_size=3, progress=False)
    files = _files(tmp_path / "a")
    assert len(files) == 10  # 3 train + 2 val files, seismic and velocity each
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    other = GenerationPlan("flatfault_a", n_train=5, n_val=3, seed=10, samples_per_file=2)
    generate_dataset(tmp_path / "c", other, progress=False)
    assert (tmp_path / "a" / files[0]).read_bytes() != (tmp_path / "c" / files[0]).read_bytes()


def test_interrupted_run_resumes_without_redoing_finished_files(tmp_path, monkeypatch):
    out = tmp_path / "ds"
    real_generate_file = generate_module.generate_file
    made = []

    def interrupt_at_third_file(plan, number, *args):
        if number == 3:
            raise KeyboardInterrupt
        made.append(number)
        return real_generate_file(plan, number, *args)

    monkeypatch.setattr(generate_module, "generate_file", interrupt_at_third_file)
    with pytest.raises(KeyboardInterrupt):
        generate_dataset(out, PLAN, progress=False)
    assert not (out / "metadata.json").exists()
    assert [p.name for p in sorted((out / "data").iterdir())] == ["data1.npy", "data2.npy"]
    finished = {p: p.stat().st_mtime_ns for p in (out / "data").iterdir()}

    monkeypatch.setattr(
        generate_module,
        "generate_file",
        lambda plan, number, *a: made.append(number) or real_generate_file(plan, number, *a),
    )
    generate_dataset(out, PLAN, progress=False)
    assert made == [1, 2, 3, 4, 5]  # files 1 and 2 were not made again
    assert all(p.stat().st_mtime_ns == t for p, t in finished.items())
    reference = tmp_path / "ref"
    generate_dataset(reference, PLAN, progress=False)
    for name in _files(reference):
        assert (out / name).read_bytes() == (reference / name).read_bytes()


def test_a_failed_write_leaves_no_file_visible(tmp_path, monkeypatch):
    def disk_full(handle, array, allow_pickle=False):
        handle.write(b"\x93NUMPY partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(generate_module.np, "save", disk_full)
    with pytest.raises(OSError):
        generate_dataset(tmp_path / "ds", PLAN, progress=False)
    assert list((tmp_path / "ds").rglob("*.npy")) == []
    assert [p.name for p in (tmp_path / "ds").rglob("*") if p.is_file()] == ["plan.json"]


def test_resuming_with_another_plan_is_refused(tmp_path):
    generate_dataset(tmp_path / "ds", PLAN, progress=False)
    changed = GenerationPlan("flatfault_a", n_train=5, n_val=3, seed=1, samples_per_file=2)
    with pytest.raises(DataError, match=r"seed: 9 -> 1"):
        generate_dataset(tmp_path / "ds", changed, progress=False)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"family": "style_a"}, "style_a"), ({"n_val": 0}, "n_val"), ({"samples_per_file": 501}, "samples_per_file")],
)
def test_bad_plans_are_rejected(kwargs, message):
    with pytest.raises(Exception, match=message):
        GenerationPlan(**{"family": "curvefault_a", "n_train": 4, "n_val": 2, **kwargs})


def test_preview_is_an_rgb_picture_of_models_and_gathers(tiny_dataset):
    path = write_preview(tiny_dataset, n_samples=3)
    image = np.asarray(Image.open(path))
    assert image.ndim == 3 and image.shape[2] == 3 and image.shape[0] > 3 * 300
    velocity_panel = image[30:300, 10:290]
    assert len(np.unique(velocity_panel.reshape(-1, 3), axis=0)) >= 3  # several layers, in colour
    gather_panel = image[30:300, 310:390]
    assert (gather_panel[..., 0] > 200).any() and (gather_panel[..., 2] > 200).any()
    os.remove(path)


def test_report_shows_maps_gathers_and_the_statistics_table(tiny_dataset):
    metadata = json.loads((tiny_dataset / "metadata.json").read_text())
    path = write_report(tiny_dataset, metadata)
    image = np.asarray(Image.open(path).convert("RGB"))
    assert image.shape[0] >= 900 and image.shape[1] >= 1400
    top_band = image[: image.shape[0] // 3].reshape(-1, 3)
    assert ((top_band[:, 0] > 200) & (top_band[:, 2] < 80)).sum() > 500  # jet reds: fast layers of the maps
    assert ((top_band[:, 2] > 200) & (top_band[:, 0] < 80)).sum() > 500  # jet blues: slow top layers
    os.remove(path)


def _snapshot(folder):
    """Every file under ``folder`` (and its parent's listing) with its bytes: to show nothing was written."""
    files = {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    return files, sorted(p.name for p in folder.parent.iterdir())


@pytest.mark.parametrize(
    "family, looks_like, use",
    [
        ("curvefault_a", r"Fault-family A \(FlatFault-A or CurveFault-A\)", r"data=flatfault_a \(or curvefault_a\)"),
        ("flatvel_a", r"Vel-family \(FlatVel, CurveVel: 1\.\.60\)", r"data=flatvel_a \(or flatvel_b, curvevel_a"),
    ],
)
def test_an_openfwi_download_given_to_the_generator_is_refused_and_left_untouched(tmp_path, family, looks_like, use):
    root = write_download(tmp_path / "openfwi", family)
    before = _snapshot(root)
    cfg = compose_train("debug=smoke").data  # data=synthetic: the data.root=<download> without data=<family>
    with open_dict(cfg):
        cfg.root = str(root)
    with pytest.raises(
        DataError, match=rf"{root} holds files fwilab did not generate \(.*{looks_like} folder\); .*{use}"
    ):
        build_data(read_data(cfg))
    with pytest.raises(DataError, match=looks_like):  # generate_data.py out=<download>, with a plan its files fit
        generate_dataset(root, PLAN, progress=False)
    assert _snapshot(root) == before


def test_generation_uses_only_an_empty_folder_or_its_own(tmp_path):
    (tmp_path / "empty").mkdir()
    generate_dataset(tmp_path / "empty", PLAN, progress=False)
    generate_dataset(tmp_path / "empty", PLAN, progress=False)  # its own: finished, nothing redone
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "README.txt").write_text("mine")
    with pytest.raises(DataError, match=r"notes holds files fwilab did not generate \(found no \.npy files\)"):
        generate_dataset(tmp_path / "notes", PLAN, progress=False)
    assert [p.name for p in (tmp_path / "notes").iterdir()] == ["README.txt"]
