"""The Snakemake report of a small run, opened in headless Chromium: loads without console errors, every figure renders.

Chromium and its driver are Debian packages (`apt-get install chromium chromium-driver`; .ci/run installs them);
Selenium drives them without downloading any browser or driver.
"""

import base64
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import report_tables as rt
import yaml

from vlencode import store
from vlencode.outputs import OUTPUTS

ROOT = Path(__file__).resolve().parents[1]
# The "view" button of each result in the report's results table.
_VIEW = '#app table tbody a[iconname="eye"]'
pytestmark = pytest.mark.slow


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    from smallrun import snakemake

    return snakemake(workdir, *args)


def _has_rule_for(workdir: Path, path: str) -> bool:
    """Whether the workflow has a rule that writes ``path`` (a dry run of that target names a job)."""
    result = _snakemake(workdir, "-n", "--quiet", "rules", "--forcerun", path, path)
    return result.returncode == 0


@pytest.fixture(scope="module")
def report(request, tmp_path_factory):
    """A small finished run (the suite's shared one when it exists, copied so it stays untouched) and its report.

    Tables of stages this workflow does not have yet are written synthetically (columns of their contracts), so
    every figure of the report is exercised.
    """
    workdir = tmp_path_factory.mktemp("report") / "run"
    try:
        shared = request.getfixturevalue("small_workflow")
    except pytest.FixtureLookupError:
        shared = None
    if shared is not None:
        # Its dataset.root is relative (tests/smallrun.py): the copy reads its own replica and reruns nothing.
        shutil.copytree(shared, workdir, symlinks=True)
    else:
        from smallrun import small_config

        # One trained network and its random twin exercise every figure at a fraction of the full small run.
        config = small_config(workdir)
        config["models"]["use"] = ["minilm"]
        workdir.mkdir(parents=True)
        (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    result = _snakemake(workdir, OUTPUTS["electrodes"], OUTPUTS["scores"])
    assert result.returncode == 0, result.stderr[-5000:]
    electrodes = store.read_parquet(workdir / OUTPUTS["electrodes"])
    synthetic = {
        OUTPUTS["sites"]: lambda: rt.sites(electrodes),
        OUTPUTS["recovery"]: rt.recovery,
        OUTPUTS["calibration"]: rt.calibration,
    }
    for path, build in synthetic.items():
        if not (workdir / path).exists() and not _has_rule_for(workdir, path):
            store.write_parquet(build(), workdir / path)
    result = _snakemake(workdir)
    assert result.returncode == 0, result.stderr[-5000:]
    result = _snakemake(workdir, "--report", "results/report.html")
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir


def test_every_figure_and_table_is_in_the_report(report):
    figures = sorted(p.stem for p in (report / "results" / "figures").glob("*.png"))
    assert figures == sorted(p.stem for p in (report / "results" / "figures").glob("*.svg"))
    from vlencode.figures import FIGURES

    assert figures == sorted(FIGURES)
    page = (report / "results" / "report.html").read_text()
    for name in figures:
        assert f"{name}.png" in page
    assert "summary.html" in page and "protocol.html" in page


def test_the_run_ends_with_a_five_line_summary(report):
    from vlencode.reporting import run_summary

    lines = run_summary(report / "results" / "report.html", report / "results")
    assert len(lines) == 6 and all(lines)
    assert "no " not in lines[1][:12]


def _driver():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver")
    if not (chromium and chromedriver):
        pytest.skip(
            "headless report check needs Debian's chromium and chromium-driver "
            "(`apt-get install -y chromium chromium-driver`, as .ci/run does); neither could be found"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1600,1100",
        "--allow-file-access-from-files",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))


def _wait(driver, script, timeout=60.0):
    """Poll a JavaScript expression until it is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(f"return {script};")
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for: {script}")


def test_report_renders_in_headless_chromium(report, tmp_path):
    driver = _driver()
    try:
        driver.get((report / "results" / "report.html").as_uri())
        _wait(driver, "typeof app !== 'undefined' && document.querySelector('#app').children.length > 0")
        categories = driver.execute_script("return categories;")
        assert {
            "1. Encoding",
            "2. Sites",
            "3. Regions",
            "4. Validation",
            "5. Quality control",
            "6. Tables",
            "0. Protocol",
        } <= set(categories)
        seen = 0
        for category, subcategories in sorted(categories.items()):
            for subcategory, paths in sorted(subcategories.items()):
                # As a reader does: back to the results menu, into the category, into the subcategory (the results
                # list is built when it is entered, so it must be left in between).
                driver.execute_script("app.setView({navbarMode: 'menu'});")
                driver.execute_script(
                    "app.setView({navbarMode: 'subcategory', category: arguments[0], subcategory: arguments[1]});",
                    category,
                    subcategory,
                )
                # Its results table lists one view button per result.
                _wait(driver, f"document.querySelectorAll('{_VIEW}').length === {len(paths)}")
                for index in range(len(paths)):
                    button = driver.execute_script(f"return document.querySelectorAll('{_VIEW}')[arguments[0]];", index)
                    button.click()
                    path = driver.execute_script("return app.state.resultPath;")
                    mime = driver.execute_script("return results[arguments[0]].mime_type;", path)
                    if mime.startswith("image/"):
                        size = _wait(
                            driver,
                            "(() => { const i = Array.from(document.images).find("
                            f"i => i.src === results[{path!r}].data_uri); "
                            "return i && i.complete && i.naturalWidth > 0 ? [i.naturalWidth, i.naturalHeight] : null"
                            " })()",
                        )
                        assert size[0] > 200 and size[1] > 100, (path, size)
                    else:
                        assert mime == "text/html", path
                        src = _wait(driver, "(document.querySelector('#app iframe') || {}).src")
                        page = base64.b64decode(src.split("base64,", 1)[1]).decode()
                        assert "<table" in page or "<ul>" in page, path
                    driver.save_screenshot(str(tmp_path / f"{Path(path).stem}.png"))
                    seen += 1
        assert seen == sum(len(paths) for subcategories in categories.values() for paths in subcategories.values())
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert not errors, errors
        driver.execute_script("app.setView({navbarMode: 'menu'});")
        driver.execute_script(
            "app.setView({navbarMode: 'subcategory', category: '3. Regions', subcategory: 'fractions'});"
        )
        _wait(driver, f"document.querySelectorAll('{_VIEW}').length > 0")
        driver.find_element("xpath", "//tr[td[contains(., 'region map')]]//a[@iconname='eye']").click()
        _wait(driver, "(document.querySelector('#app img[src*=\"region_map\"]') || {}).naturalWidth > 0")
        driver.save_screenshot(str(tmp_path / "report.png"))
        assert (tmp_path / "report.png").stat().st_size > 10_000
    finally:
        driver.quit()
