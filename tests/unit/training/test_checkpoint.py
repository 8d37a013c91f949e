"""Checkpoints: atomic writes that survive a failing disk, safe loading, clear mismatch errors."""

import os
import re
from pathlib import Path

import pytest
import torch

from fwilab import io as fwilab_io
from fwilab.errors import CheckpointError
from fwilab.models import InversionNet, ReconstructionNet
from fwilab.training.checkpoint import Checkpoint, load_checkpoint, load_model_weights, save_checkpoint


def _state(model):
    return {"model": model.state_dict(), "config": {"model": {"base_channels": 8}}, "step": 3}


def test_round_trip(tmp_path):
    model = ReconstructionNet(base_channels=8)
    save_checkpoint(tmp_path / "last.pt", _state(model))
    state = load_checkpoint(tmp_path / "last.pt")
    fresh = ReconstructionNet(base_channels=8)
    load_model_weights(fresh, state["model"], tmp_path / "last.pt")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), fresh.state_dict().values()))
    assert state["step"] == 3


def test_full_disk_during_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint(path, _state(ReconstructionNet(base_channels=8)))
    before = path.read_bytes()
    real_fsync = fwilab_io.os.fsync

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fwilab_io.os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(path, _state(ReconstructionNet(base_channels=16)))
    monkeypatch.setattr(fwilab_io.os, "fsync", real_fsync)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_checkpoint_of_another_model_is_refused(tmp_path):
    save_checkpoint(tmp_path / "rec.pt", _state(ReconstructionNet(base_channels=8)))
    state = load_checkpoint(tmp_path / "rec.pt")
    with pytest.raises(CheckpointError, match=r"rec\.pt does not fit InversionNet"):
        load_model_weights(InversionNet(), state["model"], tmp_path / "rec.pt")
    with pytest.raises(CheckpointError, match=r"rec\.pt does not fit ReconstructionNet: size mismatch"):
        load_model_weights(ReconstructionNet(base_channels=16), state["model"], tmp_path / "rec.pt")


def test_corrupt_missing_and_foreign_files_are_refused(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "none.pt")
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match=r"cannot read checkpoint .*bad\.pt: Unsupported operand 103$"):
        load_checkpoint(tmp_path / "bad.pt")  # the cause, not torch's advice to load it with weights_only=False
    torch.save({"weights": torch.zeros(1)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not an fwilab checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")


def test_loading_never_executes_pickled_code(tmp_path):
    class Exploit:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"model": {}, "config": {}, "payload": Exploit()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint(tmp_path / "evil.pt")


def test_a_file_without_the_newer_fields_reads_with_their_defaults_and_keeps_its_keys(tmp_path):
    model = ReconstructionNet(base_channels=8)
    save_checkpoint(tmp_path / "old.pt", _state(model))
    saved = Checkpoint.read(tmp_path / "old.pt")
    assert (saved.step, saved.epoch, saved.normalizer, saved.fingerprint) == (3, None, None, None)
    assert set(saved.parts) == {"model"}  # no optimizer, record or random states
    assert saved.config == {"model": {"base_channels": 8}} and saved.model.keys() == model.state_dict().keys()
    saved.save(tmp_path / "again.pt")
    assert set(torch.load(tmp_path / "again.pt", weights_only=True)) == {"model", "config", "step"}


class _RunsACommand:
    """A pickle that runs a shell command when unpickled: what a hostile checkpoint holds."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_hostile_checkpoint_is_refused_naming_the_object_and_runs_nothing(tmp_path):
    path, marker = tmp_path / "hostile.pt", tmp_path / "ran"
    torch.save({"model": {}, "config": {}, "payload": _RunsACommand(marker)}, path)
    with pytest.raises(CheckpointError) as refused:
        load_checkpoint(path)
    assert re.fullmatch(
        rf"cannot read checkpoint {re.escape(str(path))}: it holds a (posix|nt)\.system object, which is not "
        r"unpickled \(weights_only=True: only tensors and plain data are read, no pickled code runs\)",
        str(refused.value),
    )
    assert not marker.exists()


def test_a_directory_given_for_a_checkpoint_is_named_as_one(tmp_path):
    with pytest.raises(CheckpointError, match=rf"^checkpoint {re.escape(str(tmp_path))} is a directory, not a file$"):
        load_checkpoint(tmp_path)
