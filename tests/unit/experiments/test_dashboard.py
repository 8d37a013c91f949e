"""The sweep report: its specification round-trips without network; online failures fall back to it, never hang."""

import threading
import time

import pytest
import wandb_workspaces.reports.v2 as wr

from fwilab.errors import DataError
from fwilab.experiments.dashboard import (
    SweepFacts,
    build_report,
    group_facts,
    load_specification,
    publish,
    save_online,
)

FACTS = SweepFacts(
    group="sweep-2026-12-04_01-00-00",
    project="fwilab",
    entity="",
    columns=["optimizer._target_", "lr"],
    grouping="optimizer._target_",
    statistics={"effective_rank": ["convblock1", "deconv6"], "cka_previous": ["convblock1"]},
    comparison_markdown="| model | MAE |\n| --- | --- |\n| InversionNet | 0.2 |\n",
    velocity_keys=["velocity/sample0"],
)


def _panels(report, kind):
    return [p for block in report.blocks for p in getattr(block, "panels", []) if type(p).__name__ == kind]


def test_offline_specification_round_trips_every_section(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    kind, where = publish(build_report(FACTS, "a sweep"), tmp_path / "report.json", dry_run=False)
    assert (kind, where) == ("file", str(tmp_path / "report.json"))
    report = load_specification(where)
    assert report.title == "a sweep" and report.project == "fwilab"
    lines = {p.title: [getattr(y, "name", y) for y in p.y] for p in _panels(report, "LinePlot")}
    assert lines["validation MAE"] == ["val/mae"] and lines["validation SSIM"] == ["val/ssim"]
    assert lines["effective_rank"] == ["activations/convblock1/effective_rank", "activations/deconv6/effective_rank"]
    [grouped] = [p for p in _panels(report, "LinePlot") if p.title == "validation MAE"]
    assert getattr(grouped.groupby, "name", grouped.groupby) == "optimizer._target_"
    assert (grouped.groupby_aggfunc, grouped.groupby_rangefunc) == ("mean", "minmax")
    [coordinates] = _panels(report, "ParallelCoordinatesPlot")
    assert [c.metric.name for c in coordinates.columns] == ["optimizer._target_", "lr", "best/mae"]
    media = {p.title: p.media_keys for p in _panels(report, "MediaBrowser")}
    assert media["pca_rgb"] == ["activations/convblock1/pca_rgb", "activations/deconv6/pca_rgb"]
    assert media["velocity panels"] == ["velocity/sample0"]
    assert {p.gallery_axis for p in _panels(report, "MediaBrowser")} == {"step"}
    assert any(getattr(b, "text", None) == FACTS.comparison_markdown for b in report.blocks)


def test_a_group_by_name_gets_curves_and_best_mae_only(tmp_path):
    report = build_report(group_facts("my-group", "proj", "team"), "t")
    assert report.entity == "team" and not _panels(report, "MediaBrowser")
    publish(report, tmp_path / "r.json", dry_run=True)
    [coordinates] = _panels(load_specification(tmp_path / "r.json"), "ParallelCoordinatesPlot")
    assert [c.metric.name for c in coordinates.columns] == ["best/mae"]


def test_a_damaged_specification_is_one_line(tmp_path):
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(DataError, match="bad.json is not a report specification written by dashboard.py"):
        load_specification(tmp_path / "bad.json")


def test_saving_gives_up_after_the_time_out():
    class Hanging:
        entity, blocks = "me", []

        def save(self):
            threading.Event().wait(60)

    started = time.perf_counter()
    with pytest.raises(TimeoutError, match="no answer from W&B in 0.5 s"):
        save_online(Hanging(), timeout_s=0.5)
    assert time.perf_counter() - started < 5


@pytest.mark.slow
def test_unreachable_wandb_writes_the_specification_instead(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")
    report = build_report(FACTS, "t")
    kind, where = publish(report, tmp_path / "report.json", dry_run=False, timeout_s=60)
    assert kind == "file" and isinstance(load_specification(where), wr.Report)
    assert "saving the report to W&B failed" in caplog.text
