"""The OpenFWI file contract: split files, the official layout, memory-mapping and bad files."""

import numpy as np
import pytest
import torch
from omegaconf import open_dict

from fwilab.config.groups import read_data
from fwilab.data.build import build_data
from fwilab.data.openfwi import (
    FilePair,
    OfficialLayout,
    OpenFWIDataset,
    first_samples,
    official_pairs,
    read_split_file,
    subset_indices,
)
from fwilab.errors import DataError
from helpers import compose_train
from helpers.openfwi_download import FAMILIES, relative_names, write_download, write_openfwi_split_files


def _write_pair(root, number, n=3, seismic=None, velocity=None, subdirs=False):
    seis_dir, vel_dir = (root / "data", root / "model") if subdirs else (root, root)
    seis_dir.mkdir(parents=True, exist_ok=True)
    vel_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(number)
    seismic = rng.normal(size=(n, 5, 1000, 70)).astype(np.float32) if seismic is None else seismic
    velocity = rng.uniform(1500, 4500, size=(n, 1, 70, 70)).astype(np.float32) if velocity is None else velocity
    pair = FilePair(seis_dir / f"data{number}.npy", vel_dir / f"model{number}.npy")
    np.save(pair.seismic, seismic)
    np.save(pair.velocity, velocity)
    return pair


@pytest.mark.parametrize("subdirs", [False, True])
def test_numbered_layout_is_found_with_or_without_subfolders(tmp_path, subdirs):
    pairs = [_write_pair(tmp_path, n, subdirs=subdirs) for n in (1, 2, 3)]
    layout = OfficialLayout("numbered", train=(1, 2), val=(3, 3))
    assert official_pairs(tmp_path, layout, "train") == pairs[:2]
    dataset = OpenFWIDataset(official_pairs(tmp_path, layout, "train"))
    assert len(dataset) == 6
    seismic, velocity = dataset[4]  # second sample of file 2
    assert torch.equal(seismic, torch.from_numpy(np.load(pairs[1].seismic)[1]))
    assert velocity.shape == (1, 70, 70)


def _data_config(family: str, root, *overrides: str):
    cfg = compose_train(f"data={family}", *overrides).data
    with open_dict(cfg):
        cfg.root = str(root)
    return cfg


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_loads_its_official_download_without_a_split_file(tmp_path, family):
    root = write_download(tmp_path, family)
    data = build_data(read_data(_data_config(family, root)))
    for split, dataset in (("train", data.train), ("val", data.val)):
        expected = [FilePair(root / s, root / v) for s, v in relative_names(family, split)]
        assert dataset.pairs == expected, split
    assert (len(data.train), len(data.val)) == {"FlatVel": (48, 12), "CurveVel": (48, 12), "Style": (120, 14)}.get(
        root.name[:-2], (96, 12)
    )
    velocity_labels = {float(data.val[k][1][0, 0, 0]) for k in range(len(data.val))}
    assert len(velocity_labels) == len(data.val)  # every file read, none twice


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_openfwis_own_split_files_work_as_they_are(tmp_path, family, caplog):
    root = write_download(tmp_path, family)
    split_files = write_openfwi_split_files(root, family, tmp_path)
    cfg = _data_config(
        family,
        root,
        f"data.train_split={split_files['train']}",
        f"data.val_split={split_files['val']}",
        "data.check=off",  # the same files pass the data check in the test above
    )
    with caplog.at_level("INFO", logger="fwilab.data.openfwi"):
        data = build_data(read_data(cfg))
    assert data.val.pairs == [FilePair(root / s, root / v) for s, v in relative_names(family, "val")]
    assert "do not exist" in caplog.text and str(root) in caplog.text


def test_split_file_entry_found_nowhere_is_named(tmp_path):
    root = write_download(tmp_path, "curvefault_a")
    split_files = write_openfwi_split_files(root, "curvefault_a", tmp_path)
    (root / "vel3_1_33.npy").unlink()
    cfg = _data_config(
        "curvefault_a", root, f"data.train_split={split_files['train']}", f"data.val_split={split_files['val']}"
    )
    with pytest.raises(
        DataError, match=r"data\.val: .*/projects/piml_inversion/FWIOpenData/CurveFault_A/vel3_1_33\.npy does not exist"
    ):
        build_data(read_data(cfg))


def test_wrong_root_names_the_expected_layout_and_what_the_folder_holds(tmp_path):
    fault_root = write_download(tmp_path, "curvefault_a")
    with pytest.raises(
        DataError,
        match=r"data/data\{1\.\.48\}\.npy .*found seis\{2,3,4\}_1_\*\.npy files: this looks like a Fault-family A",
    ):
        build_data(read_data(_data_config("flatvel_a", fault_root)))
    vel_root = write_download(tmp_path, "flatvel_b")
    with pytest.raises(
        DataError, match=r"seis\{2,3,4\}_1_\{0\.\.31\}\.npy .*found data1\.\.data60\.npy: this looks like a Vel-family"
    ):
        build_data(read_data(_data_config("curvefault_a", vel_root)))


@pytest.mark.parametrize("split_files", [False, True])
def test_a_missing_real_data_root_is_an_error_and_never_created(tmp_path, split_files):
    overrides = ["data.train_split=train.txt", "data.val_split=val.txt"] if split_files else []
    with pytest.raises(
        DataError, match=r"data\.root=.*/nowhere does not exist; fwilab never creates a real data folder"
    ):
        build_data(read_data(_data_config("curvefault_a", tmp_path / "nowhere", *overrides)))
    assert list(tmp_path.iterdir()) == []


def test_debug_smoke_runs_on_real_data_with_its_small_sizes(tmp_path):
    root = write_download(tmp_path, "curvefault_a", samples_per_file=2)
    cfg = compose_train("debug=smoke", "data=curvefault_a", f"data.root={root}")
    data = build_data(read_data(cfg.data))
    assert cfg.data.synthetic is None and (len(data.train), len(data.val)) == (16, 8)
    assert all(pair.seismic.parent == root for pair in data.train.pairs)
    smoke = compose_train("debug=smoke").data  # the generated smoke set keeps its sizes
    assert (smoke.synthetic.n_train, smoke.synthetic.n_val, smoke.train_samples) == (16, 8, 16)


def test_partial_download_names_a_missing_file(tmp_path):
    root = write_download(tmp_path, "flatfault_b")
    (root / "seis7_1_5.npy").unlink()
    with pytest.raises(DataError, match=r"1 of the 96 files .* missing .*seis7_1_5\.npy"):
        build_data(read_data(_data_config("flatfault_b", root)))


def test_split_file_paths_resolve_against_root(tmp_path):
    pair = _write_pair(tmp_path / "root", 1)
    split = tmp_path / "train.txt"
    split.write_text("data1.npy\tmodel1.npy\n\n")
    assert read_split_file(split, tmp_path / "root") == [pair]


def test_files_are_memory_mapped(tmp_path):
    dataset = OpenFWIDataset([_write_pair(tmp_path, 1)])
    assert all(isinstance(array, np.memmap) for arrays in dataset._arrays for array in arrays)


def test_subset_is_reproducible_and_sized():
    first = subset_indices(1000, 50, seed=4)
    assert np.array_equal(first, subset_indices(1000, 50, seed=4))
    assert len(np.unique(first)) == 50 and not np.array_equal(first, subset_indices(1000, 50, seed=5))
    with pytest.raises(DataError, match="subset of 2000"):
        subset_indices(1000, 2000, seed=0)


def test_missing_file_in_split_names_it(tmp_path):
    split = tmp_path / "val.txt"
    split.write_text("data9.npy\tmodel9.npy\n")
    with pytest.raises(DataError, match=r"data9\.npy does not exist"):
        OpenFWIDataset(read_split_file(split, tmp_path))


def test_a_directory_given_for_a_data_or_split_file_is_named_as_one(tmp_path):
    (tmp_path / "data9.npy").mkdir()
    (tmp_path / "split.txt").mkdir()
    (tmp_path / "val.txt").write_text("data9.npy\tmodel9.npy\n")
    with pytest.raises(DataError, match=r"data file .*data9\.npy is a directory, not a file$"):
        OpenFWIDataset(read_split_file(tmp_path / "val.txt", tmp_path))
    with pytest.raises(DataError, match=r"split file .*split\.txt is a directory, not a file$"):
        read_split_file(tmp_path / "split.txt", tmp_path)


def test_malformed_split_line_names_file_and_line(tmp_path):
    split = tmp_path / "train.txt"
    split.write_text("data1.npy\tmodel1.npy\ndata2.npy\tmodel2.npy\tmodel3.npy\n")
    with pytest.raises(DataError, match=r"train\.txt:2: expected 'seis_path<TAB>vel_path' or 'seis_path'"):
        read_split_file(split, tmp_path)


def test_a_split_of_gathers_alone_reads_them_and_gives_no_maps(tmp_path):
    """A split file line with the seismic path alone: gathers without velocity maps (refinement's data misfit)."""
    pair = _write_pair(tmp_path, 1)
    (tmp_path / "gathers.txt").write_text("data1.npy\n")
    dataset = OpenFWIDataset(read_split_file(tmp_path / "gathers.txt", tmp_path))
    assert not dataset.has_all_labels and len(dataset) == 3 and OpenFWIDataset([pair]).has_all_labels
    assert torch.equal(dataset.gathers(2), torch.from_numpy(np.load(pair.seismic)[2]))
    seismic, velocity = dataset[0]
    assert torch.equal(seismic, torch.from_numpy(np.load(pair.seismic)[0])) and velocity.isnan().all()


def test_truncated_file_names_it(tmp_path):
    pair = _write_pair(tmp_path, 1)
    data = pair.seismic.read_bytes()
    pair.seismic.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"data1\.npy.*truncated or corrupt"):
        OpenFWIDataset([pair])


def test_garbage_file_names_it(tmp_path):
    pair = _write_pair(tmp_path, 1)
    pair.velocity.write_bytes(b"not a numpy file at all")
    with pytest.raises(DataError, match=r"model1\.npy"):
        OpenFWIDataset([pair])


def test_wrong_shape_and_dtype_name_the_file(tmp_path):
    shape = _write_pair(tmp_path / "a", 1, seismic=np.zeros((3, 5, 1000, 69), np.float32))
    with pytest.raises(DataError, match=r"data1\.npy has shape \(3, 5, 1000, 69\)"):
        OpenFWIDataset([shape])
    dtype = _write_pair(tmp_path / "b", 1, velocity=np.zeros((3, 1, 70, 70), np.float64))
    with pytest.raises(DataError, match=r"model1\.npy has dtype float64"):
        OpenFWIDataset([dtype])


def test_mismatched_sample_counts_are_refused(tmp_path):
    pair = _write_pair(tmp_path, 1, velocity=np.full((2, 1, 70, 70), 2000, np.float32))
    with pytest.raises(DataError, match="holds 3 samples but its labels .* hold 2"):
        OpenFWIDataset([pair])


def test_nan_sample_names_file_and_sample(tmp_path):
    seismic = np.zeros((3, 5, 1000, 70), np.float32)
    seismic[2, 1, 10, 5] = np.nan
    dataset = OpenFWIDataset([_write_pair(tmp_path, 1, seismic=seismic)])
    dataset[1]
    with pytest.raises(DataError, match=r"data1\.npy sample 2 holds NaN or Inf"):
        dataset[2]


def test_first_samples_stack_the_first_items_in_order_and_stop_at_the_split_end():
    class Numbered(torch.utils.data.Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, index):
            return torch.full((5, 1000, 70), float(index)), torch.full((1, 70, 70), 10.0 * index)

    seismic, velocity = first_samples(Numbered(), 2)
    assert seismic.shape == (2, 5, 1000, 70) and seismic[:, 0, 0, 0].tolist() == [0.0, 1.0]
    assert velocity.shape == (2, 1, 70, 70) and velocity[:, 0, 0, 0].tolist() == [0.0, 10.0]
    assert len(first_samples(Numbered(), 10)[0]) == 3
