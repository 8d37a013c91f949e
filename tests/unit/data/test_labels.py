"""Seismic-only data sets and partly labelled splits: the velocity of an unlabelled sample is never read, the file of
a split none of whose samples is labelled never opened (absent or unreadable, it still loads and is checked)."""

import shutil

import numpy as np
import pytest

from fwilab.data.check import check_data
from fwilab.data.openfwi import (
    FilePair,
    OfficialLayout,
    OpenFWIDataset,
    official_pairs,
    read_split_file,
    subset_indices,
    write_split_file,
)
from fwilab.data.transforms import Normalizer
from fwilab.errors import DataError

NORMALIZER = Normalizer(-30.0, 60.0, 1500.0, 4500.0)


def _write_pair(root, number, n=4):
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "model").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(number)
    pair = FilePair(root / "data" / f"data{number}.npy", root / "model" / f"model{number}.npy")
    np.save(pair.seismic, rng.normal(size=(n, 5, 1000, 70)).astype(np.float32))
    np.save(pair.velocity, rng.uniform(1500, 4500, size=(n, 1, 70, 70)).astype(np.float32))
    return pair


def _unreadable(path):
    """A velocity file that raises on any attempt to open it (as root, chmod 000 would not stop a read)."""
    path.unlink()
    path.mkdir()


@pytest.mark.parametrize("spoil", ["absent", "unreadable"])
def test_an_unlabelled_split_never_opens_its_velocity_files(tmp_path, spoil):
    pairs = [_write_pair(tmp_path, 1), _write_pair(tmp_path, 2)]
    expected = [np.load(pair.seismic)[row] for pair in pairs for row in range(4)]
    for pair in pairs:
        pair.velocity.unlink() if spoil == "absent" else _unreadable(pair.velocity)
    dataset = OpenFWIDataset(pairs, labelled_share=0.0)
    assert len(dataset) == 8 and len(dataset.labelled) == 0
    for index, seismic in enumerate(expected):
        item_seismic, item_velocity = dataset[index]
        assert np.array_equal(item_seismic.numpy(), seismic)
        assert item_velocity.shape == (1, 70, 70) and item_velocity.isnan().all()
    assert check_data({"train": dataset}, NORMALIZER, "error") == []  # the seismic is checked, no label read
    with pytest.raises(DataError, match="model1.npy"):
        OpenFWIDataset(pairs)  # asked for every label, the spoiled file is named


def test_a_labelled_share_reads_the_labels_of_the_subset_that_the_same_count_selects(tmp_path):
    pairs = [_write_pair(tmp_path, k, n=10) for k in (1, 2, 3)]
    truth = np.concatenate([np.load(pair.velocity) for pair in pairs])
    partly = OpenFWIDataset(pairs, seed=7, labelled_share=0.2)
    chosen = subset_indices(30, 6, seed=7)  # what data.train_samples=6 with data.subset_seed=7 trains on
    assert np.array_equal(partly.labelled, chosen)
    assert np.array_equal(OpenFWIDataset(pairs, count=6, seed=7).indices, chosen)
    for index in range(30):
        velocity = partly[index][1].numpy()
        if index in chosen:
            assert np.array_equal(velocity, truth[index])
        else:
            assert np.isnan(velocity).all()


def test_a_labelled_share_too_small_to_label_one_sample_is_refused(tmp_path):
    """Semi-supervised asked, unsupervised silently run: refused instead (0.01 of 30 samples rounds to none)."""
    pairs = [_write_pair(tmp_path, k, n=10) for k in (1, 2, 3)]
    with pytest.raises(DataError, match="labelled share of 0.01 of 30 samples labels none"):
        OpenFWIDataset(pairs, labelled_share=0.01)
    assert len(OpenFWIDataset(pairs, labelled_share=1 / 30).labelled) == 1


def test_a_velocity_file_none_of_whose_samples_is_labelled_is_not_opened(tmp_path):
    pairs = [_write_pair(tmp_path, k, n=10) for k in (1, 2, 3)]
    labelled = OpenFWIDataset(pairs, seed=7, labelled_share=0.2).labelled
    files = set((labelled // 10).tolist())
    untouched = next(k for k in range(3) if k not in files)
    _unreadable(pairs[untouched].velocity)
    dataset = OpenFWIDataset(pairs, seed=7, labelled_share=0.2)
    assert [dataset[int(index)][1].isnan().any().item() for index in labelled] == [False] * len(labelled)
    check_data({"train": dataset}, NORMALIZER, "error")


def test_a_seismic_only_split_file_and_layout_give_pairs_without_labels(tmp_path):
    pairs = [_write_pair(tmp_path, k) for k in (1, 2)]
    shutil.rmtree(tmp_path / "model")
    seismic_only = [FilePair(pair.seismic, None) for pair in pairs]
    write_split_file(tmp_path / "train.txt", seismic_only, tmp_path)
    assert (tmp_path / "train.txt").read_text() == "data/data1.npy\ndata/data2.npy\n"
    assert read_split_file(tmp_path / "train.txt", tmp_path) == seismic_only
    layout = OfficialLayout("numbered", train=(1, 2), val=(3, 3))
    assert official_pairs(tmp_path, layout, "train") == seismic_only
    dataset = OpenFWIDataset(seismic_only)
    assert len(dataset) == 8 and len(dataset.labelled) == 0 and dataset[3][1].isnan().all()
    with pytest.raises(DataError, match=r"data1\.npy has no velocity file, but its labels are asked for"):
        OpenFWIDataset(seismic_only, labelled_share=0.5)


def test_a_split_mixing_labelled_and_seismic_only_files_is_refused(tmp_path):
    pairs = [_write_pair(tmp_path, k) for k in (1, 2)]
    with pytest.raises(DataError, match=r"data2\.npy has no velocity file but other files of its split have"):
        OpenFWIDataset([pairs[0], FilePair(pairs[1].seismic, None)])


def test_a_layout_with_some_velocity_files_missing_still_names_the_missing_one(tmp_path):
    pairs = [_write_pair(tmp_path, k) for k in (1, 2)]
    pairs[1].velocity.unlink()
    layout = OfficialLayout("numbered", train=(1, 2), val=(3, 3))
    with pytest.raises(DataError, match=r"1 of the 2 files .* missing .*model2\.npy"):
        official_pairs(tmp_path, layout, "train")
