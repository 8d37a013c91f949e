"""The offline review page: its chart against the jobs' numbers, the data misfit of evaluate and refine runs, and the
page of a real sweep opened in a real headless Chromium (sort the sweep table, move the step slider)."""

import base64
import csv
import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
import yaml

from fwilab.config.tasks import EvaluateSettings, RefineTaskSettings, read_settings
from fwilab.experiments.review import curves_svg, write_review
from fwilab.experiments.summary import Job
from fwilab.tasks.evaluate import evaluate_checkpoint
from fwilab.tasks.refine import run_refine
from fwilab.training.loop import train
from fwilab.training.train_settings import check_train
from helpers import ROOT, TINY_MODEL, evaluate_config, refine_config, tiny_data_args, tiny_train_config

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
LAYER = "enc.2"


@pytest.fixture(scope="module")
def sweep(tiny_dataset, tmp_path_factory):
    """A real two-job multirun with snapshots and validations at steps 2, 4 and 6."""
    sweep_dir = tmp_path_factory.mktemp("sweep")
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "train.py"),
            "-m",
            *tiny_data_args(tiny_dataset),
            *TINY_MODEL,
            "lr=1e-3,3e-3",
            "trainer.max_steps=6",
            "trainer.val_every_steps=2",
            "diagnostics.every_n_steps=2",
            "logger=none",
            f"hydra.sweep.dir={sweep_dir}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    page = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "review.py"), str(sweep_dir), "--max-snapshots", "3"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert page.returncode == 0, page.stderr
    assert page.stdout.startswith(f"review page: {sweep_dir / 'review.html'}")
    return sweep_dir


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip(
            "needs Chromium and ChromeDriver: apt-get install chromium chromium-driver (bootstrap.sh test does)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1800",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def _png_uri(path):
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


@pytest.mark.slow
def test_sorting_the_sweep_table_by_best_mae(sweep, browser):
    from selenium.webdriver.common.by import By

    browser.get((sweep / "review.html").as_uri())
    best = {
        job.name: json.loads((job / "metrics.json").read_text())["best"]["mae"] for job in (sweep / "0", sweep / "1")
    }
    header = browser.find_element(By.CSS_SELECTOR, '#sweep-table th[data-key="best_mae"]')
    header.click()
    order = [row.get_attribute("data-job") for row in browser.find_elements(By.CSS_SELECTOR, "#sweep-table tbody tr")]
    assert order == sorted(best, key=best.get)
    header.click()
    order = [row.get_attribute("data-job") for row in browser.find_elements(By.CSS_SELECTOR, "#sweep-table tbody tr")]
    assert order == sorted(best, key=best.get, reverse=True)
    curves = browser.find_elements(By.CSS_SELECTOR, "#curves polyline.curve")
    assert [len(c.get_attribute("points").split()) for c in curves] == [3, 3]  # validations at steps 2, 4, 6


@pytest.mark.slow
def test_the_step_slider_shows_that_steps_pictures_and_numbers(sweep, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    browser.get((sweep / "review.html").as_uri())
    Select(browser.find_element(By.ID, "run-select")).select_by_value("1")
    Select(browser.find_element(By.ID, "layer-select")).select_by_visible_text(LAYER)
    label, slider = browser.find_element(By.ID, "step-label"), browser.find_element(By.ID, "step-slider")
    pca = browser.find_element(By.ID, "layer-pca")
    assert label.text == "6" and pca.get_attribute("src") == _png_uri(
        sweep / "1/activations/step_000006" / f"{LAYER}_pca_rgb.png"
    )
    slider.send_keys(Keys.ARROW_LEFT, Keys.ARROW_LEFT)
    assert label.text == "2"
    assert pca.get_attribute("src") == _png_uri(sweep / "1/activations/step_000002" / f"{LAYER}_pca_rgb.png")
    montage = browser.find_element(By.ID, "layer-montage").get_attribute("src")
    assert montage == _png_uri(sweep / "1/activations/step_000002" / f"{LAYER}_montage.png")
    velocity = [img.get_attribute("src") for img in browser.find_elements(By.CSS_SELECTOR, "#velocity img")]
    assert velocity == [_png_uri(sweep / "1/activations/step_000002" / f"velocity_sample{i}.png") for i in (0, 1)]
    with (sweep / "1" / "activations" / "statistics.csv").open() as handle:
        [rank] = [
            float(r["value"])
            for r in csv.DictReader(handle)
            if (r["step"], r["layer"], r["statistic"]) == ("2", LAYER, "effective_rank")
        ]
    shown = {
        row.find_elements(By.TAG_NAME, "td")[0].text: row.find_elements(By.TAG_NAME, "td")[1].text
        for row in browser.find_elements(By.CSS_SELECTOR, "#layer-statistics tr")
    }
    assert float(shown["effective_rank"]) == pytest.approx(rank, rel=1e-3) and "cka_previous" not in shown
    browser.save_screenshot(str(tmp_path / "review.png"))
    assert (tmp_path / "review.png").stat().st_size > 10_000


@pytest.mark.slow
def test_a_single_run_directory_and_one_line_errors(sweep, tmp_path):
    page = write_review(sweep / "0", tmp_path / "run.html").read_text()
    assert page.count('<tr data-job="0">') == 1 and page.count("<polyline") == 1
    missing = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "review.py"), str(tmp_path / "nowhere")], capture_output=True, text=True
    )
    assert (
        missing.returncode == 1
        and missing.stderr.strip() == f"error: multirun directory {tmp_path / 'nowhere'} does not exist"
    )
    too_few = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "review.py"), str(sweep), "--max-snapshots", "1"],
        capture_output=True,
        text=True,
    )
    assert too_few.returncode == 1 and too_few.stderr.startswith("error: --max-snapshots 1: keep at least 2 snapshots")


SVG = "{http://www.w3.org/2000/svg}"


def test_the_chart_puts_each_validation_where_its_step_and_mae_say():
    histories = {
        "0": [(2, 0.5), (4, 0.3), (6, 0.2)],  # the lowest MAE
        "1": [(3, 0.6), (6, 0.25), (9, 0.35)],  # the highest MAE and the last step
    }
    jobs = [
        Job(name, [f"lr={name}"], {}, {"val_history": [{"step": s, "mae": m} for s, m in history]})
        for name, history in histories.items()
    ]
    svg = ET.fromstring(curves_svg(jobs))
    axes = svg.findall(f"{SVG}line")
    [x_axis] = [a for a in axes if a.get("y1") == a.get("y2")]
    [y_axis] = [a for a in axes if a.get("x1") == a.get("x2")]
    left, right, bottom = float(x_axis.get("x1")), float(x_axis.get("x2")), float(x_axis.get("y1"))
    top = min(float(y_axis.get("y1")), float(y_axis.get("y2")))
    curves = {c.get("data-run"): c for c in svg.findall(f"{SVG}polyline")}
    assert list(curves) == ["0 lr=0", "1 lr=1"]
    placed = {
        name.split()[0]: [tuple(map(float, p.split(","))) for p in curve.get("points").split()]
        for name, curve in curves.items()
    }
    for name, history in histories.items():
        assert len(placed[name]) == len(history)
        for (x, y), (step, mae) in zip(placed[name], history):
            assert x == pytest.approx(
                left + (right - left) * step / 9, abs=0.1
            )  # step 0 at the axis, step 9 at its end
            assert y == pytest.approx(bottom - (bottom - top) * (mae - 0.2) / (0.6 - 0.2), abs=0.1)
    assert placed["0"][2][1] == pytest.approx(bottom, abs=0.1)  # 0.2, the lowest: on the bottom axis
    assert placed["1"][0][1] == pytest.approx(top, abs=0.1)  # 0.6, the highest: at the top
    assert placed["1"][2][0] == pytest.approx(right, abs=0.1)  # step 9, the last: at the axis' end
    labels = {t.text: t for t in svg.findall(f"{SVG}text")}
    assert {"0.6", "0.2", "0", "9"} <= set(labels)
    assert float(labels["0.2"].get("y")) == pytest.approx(bottom) and float(labels["0.6"].get("y")) == pytest.approx(
        top
    )
    for name, curve in curves.items():
        assert labels[name].get("fill") == curve.get("stroke")  # the legend names each curve in its colour
    assert "No validation yet" in curves_svg([Job("0", [], {}, {})])


class _DataFitSection(HTMLParser):
    """The data-misfit table's rows (run, maps, cell texts), the data-fit pictures, the page's element ids and the
    sweep table's jobs."""

    def __init__(self) -> None:
        super().__init__()
        self.rows, self.pictures, self.ids, self.jobs, self._cells = [], {}, set(), [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.ids.add(attrs.get("id"))
        if tag == "tr" and "data-job" in attrs:
            self.jobs.append(attrs["data-job"])
        if tag == "tr" and "data-model" in attrs:
            self._cells = []
            self.rows.append((attrs["data-run"], attrs["data-model"], self._cells))
        elif tag == "img" and attrs.get("alt", "").endswith(".png") and attrs.get("src", "").startswith("data:"):
            self.pictures[attrs["alt"]] = attrs["src"]

    def handle_data(self, data):
        if self._cells is not None and data.strip():
            self._cells.append(data.strip())

    def handle_endtag(self, tag):
        if tag == "tr":
            self._cells = None


def _read_page(path) -> _DataFitSection:
    parser = _DataFitSection()
    parser.feed(path.read_text())
    return parser


@pytest.fixture(scope="module")
def physics_runs(tiny_dataset, tmp_path_factory):
    """A folder of three Hydra-like job directories: a training run, an evaluate run of its checkpoint with
    physics.samples=2, and a refine run of it."""
    folder = tmp_path_factory.mktemp("physics")
    train(
        check_train(tiny_train_config(tiny_dataset, "trainer.max_steps=4", "logger=none", "diagnostics=off")),
        folder / "0",
    )
    checkpoint = folder / "0" / "checkpoints" / "best.pt"
    evaluate_checkpoint(
        read_settings(evaluate_config(checkpoint, samples=2, batch_size=2), EvaluateSettings), folder / "1"
    )
    run_refine(
        read_settings(refine_config(checkpoint, samples=2, iterations=1, batch_size=2, pictures=1), RefineTaskSettings),
        folder / "2",
    )
    for job, overrides in (
        ("0", ["trainer.max_steps=4"]),
        ("1", [f"checkpoint={checkpoint}"]),
        ("2", ["iterations=1"]),
    ):
        (folder / job / ".hydra").mkdir(exist_ok=True)
        (folder / job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))  # as Hydra records a job
    return folder


def test_an_evaluate_run_shows_its_data_misfit_the_floor_and_its_gathers(physics_runs, tmp_path):
    run = physics_runs / "1"
    metrics = json.loads((run / "metrics.json").read_text())
    page = _read_page(write_review(run, tmp_path / "evaluate.html"))
    shown = {model: cells[-3:] for _, model, cells in page.rows}
    assert list(shown) == ["network", "truth"]
    for model, prefix in (("network", "data_misfit"), ("truth", "data_misfit_truth")):
        samples, mean, median = shown[model]
        assert int(samples) == metrics["physics_samples"] == 2
        assert float(mean) == pytest.approx(metrics[f"{prefix}_mean"], rel=1e-3, abs=1e-9)
        assert float(median) == pytest.approx(metrics[f"{prefix}_median"], rel=1e-3, abs=1e-9)
    gathers = sorted((run / "data_fit").glob("*.png"))
    assert len(gathers) == 2
    assert page.pictures == {f"data_fit/{p.name}": _png_uri(p) for p in gathers}
    assert not {"sweep-table", "curves", "run-select"} & page.ids  # no training: no table, chart or snapshots


def test_a_folder_of_training_evaluate_and_refine_runs_puts_each_in_its_section(physics_runs):
    page = _read_page(write_review(physics_runs))
    table = json.loads((physics_runs / "2" / "metrics.json").read_text())["table"]
    refine_rows = [(model, cells) for run, model, cells in page.rows if run == "2"]
    assert [model for model, _ in refine_rows] == [row["model"] for row in table]
    for (_, cells), row in zip(refine_rows, table):
        assert float(cells[-2]) == pytest.approx(row["data_misfit_mean"], rel=1e-3, abs=1e-9)
        assert float(cells[-1]) == pytest.approx(row["data_misfit_median"], rel=1e-3, abs=1e-9)
        for cell, key in zip(cells[-6:-3], ("mae", "rmse", "ssim")):  # the refined set scored like a model
            assert float(cell) == pytest.approx(row[key], rel=1e-3, abs=1e-9)
    assert [run for run, _, _ in page.rows].count("1") == 2 and {run for run, _, _ in page.rows} == {"1", "2"}
    assert {name for name in page.pictures if name.startswith("pictures/")} == {
        f"pictures/{p.name}" for p in (physics_runs / "2" / "pictures").glob("*.png")
    }
    assert page.jobs == ["0"] and {"sweep-table", "curves", "run-select"} <= page.ids  # the training run alone
    assert "data-misfit" not in _read_page(write_review(physics_runs / "0", physics_runs / "0.html")).ids
