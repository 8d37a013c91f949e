"""scripts/gpu_check.sh, the GPU check of the project, on a machine without a GPU."""

import os
import subprocess
import sys

import pytest

from helpers import ROOT

pytestmark = pytest.mark.slow


def test_gpu_check_refuses_without_a_gpu_and_reports_what_ran(tmp_path):
    from fwilab.benchmarking import write_gpu_report

    refused = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gpu_check.sh")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert refused.returncode == 1 and refused.stderr.startswith("error: no CUDA GPU visible")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={tmp_path / 'gpu_tests.xml'}",
            str(ROOT / "tests" / "gpu" / "test_gpu.py"),
        ],
        capture_output=True,
        timeout=300,
        cwd=ROOT,
    )
    report = write_gpu_report(tmp_path)
    assert report["gpu_tests"] == {
        "tests": 7,
        "failures": 0,
        "errors": 0,
        "skipped": 7,
        "passed": 0,
    }  # CPU: every GPU test skips
    text = (tmp_path / "gpu_report.md").read_text()
    assert "GPU tests: 0 passed, 0 failed, 7 skipped" in text and "Benchmark: no result" in text
