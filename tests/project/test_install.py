"""fwilab as an installed tool: the wheel carries the configs and the commands, which run from any directory,
and a user's own config directory adds options to the package's groups."""

from __future__ import annotations

import email.parser
import json
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import yaml

from helpers import ROOT, compose_train

SGD = {"_target_": "torch.optim.SGD", "_partial_": True, "lr": "${lr}", "momentum": 0.9}


def _user_config_dir(directory: Path) -> Path:
    """A user's config directory with a new optimizer (sgd) and their own take on an existing one (adamw)."""
    (directory / "optimizer").mkdir(parents=True)
    (directory / "optimizer" / "sgd.yaml").write_text(yaml.safe_dump(SGD))
    (directory / "optimizer" / "adamw.yaml").write_text(yaml.safe_dump({**SGD, "momentum": 0.5}))
    return directory


def test_a_user_config_directory_adds_options_without_shadowing_the_packaged_ones(tmp_path):
    search_path = f"hydra.searchpath=[file://{_user_config_dir(tmp_path / 'mine')}]"
    assert compose_train("optimizer=sgd", search_path).optimizer._target_ == "torch.optim.SGD"
    assert compose_train(search_path).optimizer._target_ == "torch.optim.AdamW"  # the package's adamw comes first


def _build_wheel(out: Path) -> Path:
    """``pip wheel`` of a copy of the project (the build leaves build/ and *.egg-info in the tree it builds)."""
    source = out / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for folder in ("src", "conf"):
        shutil.copytree(ROOT / folder, source / folder, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = out.glob("fwilab-*.whl")
    return wheel


def _venv_with_this_environments_packages(venv: Path) -> Path:
    """A fresh venv that sees this environment's torch, hydra, ... through a .pth, but not its editable fwilab
    (.pth files inside a directory that a .pth lists are not processed)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    purelib = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    (purelib / "this_environment.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return venv / "bin"


def _assert_license_author_and_urls(wheel: Path) -> None:
    """The wheel's metadata (core metadata 2.4, read with the standard library's email parser) says its license, with
    the LICENSE file inside, who wrote it and where it lives; the runtime wandb floor is the code's, not the tests'."""
    archive = zipfile.ZipFile(wheel)
    [metadata_name] = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
    metadata = email.parser.Parser().parsestr(archive.read(metadata_name).decode())
    assert metadata["License-Expression"] == "BSD-3-Clause" and metadata["License-File"] == "LICENSE"
    licence = archive.read(metadata_name.replace("METADATA", "licenses/LICENSE")).decode()
    assert licence == (ROOT / "LICENSE").read_text() and licence.startswith("BSD 3-Clause License")
    assert metadata["Author"] == "The fwilab developers"
    urls = dict(entry.split(", ", 1) for entry in metadata.get_all("Project-URL"))
    assert urls == {"OpenFWI": "https://openfwi-lanl.github.io/"}  # no invented address for fwilab itself
    requires = metadata.get_all("Requires-Dist")
    assert "wandb>=0.19.9" in requires and 'wandb>=0.31; extra == "dev"' in requires


@pytest.mark.slow
def test_the_wheel_installs_commands_that_run_the_smoke_job_from_an_empty_directory(tmp_path):
    wheel = _build_wheel(tmp_path / "wheel")
    names = set(zipfile.ZipFile(wheel).namelist())
    configs = {f"fwilab/conf/{path.relative_to(ROOT / 'conf')}" for path in (ROOT / "conf").rglob("*.yaml")}
    modules = {
        f"fwilab/{path.relative_to(ROOT / 'src' / 'fwilab')}" for path in (ROOT / "src" / "fwilab").rglob("*.py")
    }
    templates = {
        f"fwilab/{path.relative_to(ROOT / 'src' / 'fwilab')}" for path in (ROOT / "src" / "fwilab").rglob("templates/*")
    }
    assert configs <= names and modules <= names and "fwilab/conf/train.yaml" in configs
    assert templates <= names and "fwilab/experiments/templates/review.html" in templates
    _assert_license_author_and_urls(wheel)

    bin_dir = _venv_with_this_environments_packages(tmp_path / "venv")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(bin_dir / "python"), "install", "-q", "--no-deps", "--no-index"]
        + [str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    scripts = {path.stem for path in (ROOT / "scripts").glob("*.py")}
    assert {f"fwilab-{name.replace('_', '-')}" for name in scripts} <= {path.name for path in bin_dir.iterdir()}

    empty = tmp_path / "elsewhere"
    empty.mkdir()
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "FWILAB_DATA_DIR": str(tmp_path / "data")}
    where = subprocess.run(
        [str(bin_dir / "python"), "-c", "import fwilab; print(fwilab.__file__)"],
        cwd=empty,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert Path(where.stdout.strip()).is_relative_to(tmp_path / "venv"), where.stdout + where.stderr

    user_conf = _user_config_dir(tmp_path / "my_configs")
    run = subprocess.run(
        ["fwilab-train", "--config-dir", str(user_conf), "optimizer=sgd", "debug=smoke", "logger=none"],
        cwd=empty,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    (job,) = (empty / "outputs" / "train").glob("*/*")  # Hydra still names the run directory after the task
    assert json.loads((job / "metrics.json").read_text())["status"] == "completed"
    assert yaml.safe_load((job / "config.yaml").read_text())["optimizer"]["momentum"] == 0.9
    assert any((tmp_path / "data" / "synthetic").iterdir())  # the data went to the cache, not the working directory
    assert sorted(path.name for path in empty.iterdir()) == ["outputs"]
    review = subprocess.run(
        ["fwilab-review", str(job)], cwd=empty, env=env, capture_output=True, text=True, timeout=120
    )  # the page's template, read from the installed package
    assert review.returncode == 0 and '<tr data-job="' in (job / "review.html").read_text(), review.stderr[-3000:]
