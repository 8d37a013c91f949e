"""Progress a cluster can read: log lines where stdout is a file, bars only on a terminal."""

import io
import logging
import os
import re
import subprocess
import sys

import pytest

from fwilab.progress import Progress
from helpers import ROOT

STEP_LINE = re.compile(
    r"step (\d+)/(\d+) epoch (\d+): loss (\d+\.\d+)  lr (\S+)  (\d+\.\d) samples/s  elapsed (\S+)  remaining (\S+)"
)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal", [True, False])
def test_a_bar_on_a_terminal_else_a_log_line_per_tenth(terminal, monkeypatch, caplog):
    stream = Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    with caplog.at_level(logging.INFO, logger="fwilab.progress"), Progress(40, "work", unit="items") as progress:
        for _ in range(40):
            progress.update()
    lines = [r.getMessage() for r in caplog.records if r.name == "fwilab.progress"]
    if terminal:
        assert "40/40" in stream.getvalue() and lines == []
    else:
        assert stream.getvalue() == ""
        assert [line.split(",")[0] for line in lines] == [f"work: {4 * k}/40 items ({10 * k}%)" for k in range(1, 11)]


def test_a_resumed_loop_reports_only_the_tenths_it_crosses(monkeypatch, caplog):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    with caplog.at_level(logging.INFO, logger="fwilab.progress"), Progress(10, "work", initial=7) as progress:
        for _ in range(3):
            progress.update()
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        "work: 8/10 it",
        "work: 9/10 it",
        "work: 10/10 it",
    ]


@pytest.mark.slow
def test_a_run_writing_to_files_logs_every_interval_and_draws_no_bar(tmp_path):
    run_dir = tmp_path / "run"
    with open(tmp_path / "out.txt", "w") as out, open(tmp_path / "err.txt", "w") as err:
        result = subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts" / "train.py"),
                "debug=smoke",
                "logger=none",
                f"hydra.run.dir={run_dir}",
            ],
            cwd=tmp_path,
            stdout=out,
            stderr=err,
            timeout=600,
            env={**os.environ, "FWILAB_DATA_DIR": str(tmp_path / "cache")},
        )
    stdout, stderr = (tmp_path / "out.txt").read_text(), (tmp_path / "err.txt").read_text()
    assert result.returncode == 0, stderr
    for text in (stdout, (run_dir / "train.log").read_text()):
        lines = [STEP_LINE.search(line) for line in text.splitlines() if STEP_LINE.search(line)]
        assert [(int(m[1]), int(m[2]), int(m[3])) for m in lines] == [(2, 4, 0), (4, 4, 0)]  # smoke: one epoch of 4
        assert all(float(m[4]) > 0 and float(m[6]) > 0 for m in lines) and lines[-1][8] == "00:00"
    assert "\r" not in stdout + stderr and "%|" not in stdout + stderr and "step/s" not in stdout + stderr
