"""The dashboards in a real browser: `streamlit run` on a free port, driven by headless Chromium through Selenium.

AppTest runs the scripts but not the frontend; this test proves the pages render in Chromium (charts, graph,
metrics), that a shared link's filters are honoured, and that the SQL page round-trips through the websocket.
Screenshots land in the test's tmp folder for a human look.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.dashboards.marts_fixture import build_marts_file

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT_S = 60

PAGES = {
    "": "[data-testid=stMetricValue]",
    "trends": ".js-plotly-plot",
    "flakiness": ".js-plotly-plot",
    "comparison": "[data-testid=stMetricValue]",
    "lineage": "[data-testid=stGraphVizChart] svg g.node",
    "failures": ".js-plotly-plot",
    "sql": "textarea",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"streamlit exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"streamlit did not answer on {url}:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """One server for the module: starting Streamlit and Chromium is most of this test's cost."""
    tmp_path = tmp_path_factory.mktemp("streamlit")
    home = tmp_path / "warehouse"
    home.mkdir()
    serving = build_marts_file(home / "tekton.duckdb")
    port = _free_port()
    log = tmp_path / "streamlit.log"
    env = {**os.environ, "TEKTON_WAREHOUSE_HOME": str(home)}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "streamlit", "run", "dashboards/streamlit_app.py",
                "--server.headless", "true", "--server.port", str(port), "--server.address", "127.0.0.1",
                "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
            ],
            cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log)
        yield url, serving
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    tmp_path = tmp_path_factory.mktemp("chromium")
    assert Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists(), "run `make browser` to install Chromium"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--window-size=1500,1300", f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT_S)
    try:
        yield driver
    finally:
        driver.quit()


def _settled(driver: WebDriver) -> bool:
    """True once the script run finished and every Plotly chart has drawn."""
    idle = driver.find_elements(By.CSS_SELECTOR, "[data-testid=stApp][data-test-script-state=notRunning]")
    charts = driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")
    return bool(idle) and all(c.find_elements(By.CSS_SELECTOR, ".main-svg") for c in charts)


def _open(driver: WebDriver, url: str, ready_css: str) -> None:
    driver.get(url)
    WebDriverWait(driver, WAIT_S).until(ec.presence_of_element_located((By.CSS_SELECTOR, ready_css)))
    WebDriverWait(driver, WAIT_S).until(_settled)
    time.sleep(1.0)  # tables draw on a canvas a moment later; only for the screenshot, never asserted on


def _metric(driver: WebDriver, label: str) -> str:
    for metric in driver.find_elements(By.CSS_SELECTOR, "[data-testid=stMetric]"):
        if metric.find_element(By.CSS_SELECTOR, "[data-testid=stMetricLabel]").text.strip() == label:
            return metric.find_element(By.CSS_SELECTOR, "[data-testid=stMetricValue]").text.strip()
    raise AssertionError(f"no metric {label!r}")


def _runs_in(serving: Path, where: str = "true") -> int:
    con = duckdb.connect(str(serving), read_only=True)
    try:
        return con.execute(f"SELECT sum(runs) FROM marts.agg_pipeline_daily WHERE {where}").fetchone()[0]
    finally:
        con.close()


def test_every_page_renders_in_chromium(
    app_url: tuple[str, Path], browser: WebDriver, tmp_path: Path
) -> None:
    url, serving = app_url
    for path, ready in PAGES.items():
        _open(browser, f"{url}/{path}", ready)
        name = path or "overview"
        browser.save_screenshot(str(tmp_path / f"{name}.png"))
        assert not browser.find_elements(By.CSS_SELECTOR, "[data-testid=stException]"), f"{name} raised"
        assert browser.find_element(By.CSS_SELECTOR, "h1").text.strip(), f"{name} has no title"
    # The fixture spans 14 days, inside the default 30-day range: the overview counts every terminal run.
    _open(browser, url, "[data-testid=stMetricValue]")
    assert _metric(browser, "Runs") == f"{_runs_in(serving):,}"
    assert "from=" in browser.current_url and "to=" in browser.current_url


def test_a_shared_link_opens_with_its_filters(
    app_url: tuple[str, Path], browser: WebDriver, tmp_path: Path
) -> None:
    url, serving = app_url
    _open(browser, f"{url}/?cluster=prod&namespace=ci&pipeline=build-web&from=2026-03-10&to=2026-03-14",
          "[data-testid=stMetricValue]")  # fmt: skip
    browser.save_screenshot(str(tmp_path / "overview_filtered.png"))
    expected = _runs_in(
        serving,
        "cluster = 'prod' AND namespace = 'ci' AND pipeline_name = 'build-web' "
        "AND day BETWEEN DATE '2026-03-10' AND DATE '2026-03-14'",
    )
    assert expected < _runs_in(serving)
    assert _metric(browser, "Runs") == f"{expected:,}"
    assert "pipeline=build-web" in browser.current_url


def test_sql_page_runs_a_query_in_the_browser(
    app_url: tuple[str, Path], browser: WebDriver, tmp_path: Path
) -> None:
    url, _ = app_url
    _open(browser, f"{url}/sql", "textarea")
    box = browser.find_element(By.CSS_SELECTOR, "textarea")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    box.send_keys("SELECT count(*) AS failing_runs FROM marts.fct_failures")
    browser.find_element(By.CSS_SELECTOR, "[data-testid=stFormSubmitButton] button").click()
    WebDriverWait(browser, WAIT_S).until(
        lambda d: (
            d.find_elements(By.CSS_SELECTOR, "[data-testid=stDataFrame]")
            or d.find_elements(By.CSS_SELECTOR, "[data-testid=stAlert]")
        )
    )
    WebDriverWait(browser, WAIT_S).until(_settled)
    time.sleep(1.0)
    browser.save_screenshot(str(tmp_path / "sql_result.png"))
    captions = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "[data-testid=stCaptionContainer]")]
    alerts = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "[data-testid=stAlert]")]
    assert "1 rows" in captions, (captions, alerts)
    assert browser.find_elements(By.CSS_SELECTOR, "[data-testid=stDataFrame]")
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-testid=stException]")
