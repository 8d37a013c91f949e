"""The offline review page, opened in a real headless Chromium: sort the sweep table, move the step slider."""

import base64
import csv
import json
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT
from test_cli import TINY_MODEL, tiny_data_args

pytestmark = pytest.mark.slow
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


def test_a_single_run_directory_and_one_line_errors(sweep, tmp_path):
    from fwilab.experiments.review import write_review

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
