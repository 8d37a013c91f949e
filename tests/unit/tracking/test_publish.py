"""tracking.publish: where a task's pictures and result land, in which order, and what its logger is sent."""

import json

import numpy as np
import pytest
from PIL import Image

from fwilab.tracking.publish import TaskOutputs, picture_path, publish
from fwilab.tracking.run_logger import RunLogger


class RecordingLogger(RunLogger):
    """A real RunLogger backend that keeps every call, in order, as a W&B run would receive them."""

    def __init__(self):
        self.calls = []

    def log_metrics(self, metrics, step):
        self.calls.append(("metrics", step, metrics))

    def log_images(self, images, step):
        self.calls.append(("images", step, sorted(images)))

    def log_table(self, key, columns, rows, step):
        self.calls.append(("table", step, key, columns, rows))

    def log_summary(self, summary):
        self.calls.append(("summary", summary))

    def finish(self, status):
        self.calls.append(("finish", status))


def _picture(value: int) -> np.ndarray:
    return np.full((4, 6, 3), value, dtype=np.uint8)


def test_pictures_result_and_logger_calls(tmp_path):
    outputs = TaskOutputs(
        {"mae": 0.25},
        step=7,
        pictures={"fit/sample0": _picture(10), "fit/heat": _picture(200)},
        picture_names={"fit/heat": "cka"},
        tables={"fit/table": (["a", "b"], [[1, 2]])},
        history=[(0, {"x": 1.0}), (1, {"x": 0.5})],
        summary={"mae": 0.25},
    )
    logger = RecordingLogger()
    result = publish(outputs, tmp_path, "metrics.json", logger, picture_folder="pictures")
    assert result == {"mae": 0.25, "status": "completed"}
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"mae": 0.25, "status": "completed"}
    assert sorted(p.name for p in (tmp_path / "pictures").iterdir()) == ["cka.png", "sample0.png"]
    assert np.asarray(Image.open(tmp_path / "pictures" / "cka.png")).max() == 200
    assert logger.calls == [
        ("metrics", 0, {"x": 1.0}),
        ("metrics", 1, {"x": 0.5}),
        ("images", 7, ["fit/heat", "fit/sample0"]),
        ("table", 7, "fit/table", ["a", "b"], [[1, 2]]),
        ("summary", {"mae": 0.25}),
        ("finish", "completed"),
    ]


def test_a_task_without_pictures_logs_none_and_writes_into_the_run_directory(tmp_path):
    logger = RecordingLogger()
    publish(TaskOutputs({"loss": 1.0}), tmp_path, "landscape.json", logger)
    assert [call[0] for call in logger.calls] == ["summary", "finish"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["landscape.json"]


def test_a_picture_that_cannot_be_written_leaves_no_result_and_no_finished_run(tmp_path):
    outputs = TaskOutputs({"mae": 0.25}, pictures={"fit/bad": np.zeros((4, 6, 3), dtype=np.float64)})
    logger = RecordingLogger()
    with pytest.raises(TypeError):
        publish(outputs, tmp_path, "metrics.json", logger)
    assert not (tmp_path / "metrics.json").exists() and logger.calls == []


def test_picture_path_names_a_file_after_the_key_or_its_given_stem(tmp_path):
    assert picture_path(tmp_path, "loss_landscape/loss_1d") == tmp_path / "loss_1d.png"
    assert picture_path(tmp_path, "cka/heat_map", {"cka/heat_map": "cka"}) == tmp_path / "cka.png"
