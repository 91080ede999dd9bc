"""The annotate page in a real headless browser (Debian's chromium + chromedriver via selenium).

Skipped when selenium, chromium or chromedriver is absent (CI installs ``chromium chromium-driver``).
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("chromium and chromedriver are not installed (apt-get install chromium chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--mute-audio",
                 "--window-size=1200,900", "--autoplay-policy=no-user-gesture-required"):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_page_renders_and_clicking_an_utterance_seeks(setup, tmp_path: Path, browser) -> None:
    from PIL import Image
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from vega_anchors.cli import main

    out = tmp_path / "page"
    argv = ["annotate", str(setup.video), "--transcript", str(setup.srt), "--model", str(setup.run), "--out", str(out),
            "--quiet"]  # fmt: skip
    assert main(argv) == 0
    browser.get((out / "index.html").resolve().as_uri())
    WebDriverWait(browser, 20).until(lambda d: d.execute_script("return document.readyState") == "complete")
    ready = "return document.getElementById('player').readyState"
    WebDriverWait(browser, 20).until(lambda d: d.execute_script(ready) >= 1)
    duration = browser.execute_script("return document.getElementById('player').duration")
    assert duration == pytest.approx(setup.duration, abs=0.2)  # the video loaded through its relative path
    assert len(browser.find_elements(By.CSS_SELECTOR, "#timeline .seg")) == len(setup.cues)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#legend span")) == 3

    third = browser.find_element(By.ID, "utt-2")
    browser.execute_script("arguments[0].scrollIntoView()", third)
    third.click()
    current = browser.execute_script("return document.getElementById('player').currentTime")
    assert current == pytest.approx(setup.cues[2].start, abs=1e-3)
    browser.find_element(By.ID, "seg-4").click()  # the timeline seeks too
    current = browser.execute_script("return document.getElementById('player').currentTime")
    assert current == pytest.approx(setup.cues[4].start, abs=1e-3)

    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []
    browser.execute_script("window.scrollTo(0, 0)")
    shot = Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert("RGB")
    pixels = np.asarray(shot, dtype=np.float32)
    assert shot.size[0] >= 800 and pixels.std() > 20  # not blank
    shot.save(tmp_path / "screenshot.png")
