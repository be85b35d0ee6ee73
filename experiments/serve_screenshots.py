"""Screenshots of the web page's three tabs, for the README.

    python experiments/serve_screenshots.py [--out experiments/results]

Starts ``deepface-gen serve`` (the real command, the starter) and drives its page in
headless Debian Chromium through Selenium, as a person would: types a description and
generates, drops a portrait in the edit tab and adds eyeglasses, then a photograph (its
face found, the edit put back into it), scores three images. Writes
``serve_generate.png``, ``serve_edit.png``, ``serve_edit_photo.png`` and ``serve_score.png``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_serve import ROOT, start_server
from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import Select, WebDriverWait

from deepface_gen.generation.generator import FaceGenerator


def portraits(folder: Path) -> list[Path]:
    """Three starter faces at 192 px, as files a person would drop in."""
    faces = FaceGenerator.load().generate(["man, black hair", "smiling woman", "old man"], seed=2)
    paths = []
    for i, face in enumerate(faces):
        path = folder / f"portrait_{i}.png"
        Image.fromarray(np.asarray(face)).resize((192, 192), Image.BICUBIC).save(path)
        paths.append(path)
    return paths


def whole_page(driver, path: Path) -> None:
    """A screenshot of the whole page, not just the window."""
    driver.execute_script("window.scrollTo(0, 0)")
    # The lowest visible element's bottom: the document's scroll height can stop short
    # of a panel's content (the edit tab's Render and Edit rows were cut off).
    height = driver.execute_script(
        "return Math.ceil(Math.max(document.documentElement.scrollHeight, ...Array.from("
        "document.querySelectorAll('body *')).map(e => e.getBoundingClientRect().bottom)))"
    )
    frame = driver.execute_script("return window.outerHeight - window.innerHeight")
    driver.set_window_size(1280, height + frame + 20)  # the window's frame is not the page
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 900)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "experiments" / "results"))
    args = parser.parse_args()
    out = Path(args.out)
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--window-size=1280,900", "--hide-scrollbars"):  # fmt: skip
        options.add_argument(flag)
    process, url, _ = start_server()
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    wait = WebDriverWait(driver, 120)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            files = portraits(Path(scratch))
            driver.get(url)
            wait.until(lambda d: "attributes known" in d.find_element("id", "model-line").text)
            field = driver.find_element("id", "attrs")
            field.clear()
            field.send_keys("smiling woman, blond hair, ba")
            wait.until(lambda d: d.find_elements("css selector", "#attrs-suggestions button"))
            driver.execute_script("document.getElementById('n').value = 8")
            driver.execute_script("document.getElementById('n-value').textContent = 8")
            driver.find_element("id", "generate-button").click()
            wait.until(lambda d: "unknown" in d.find_element("id", "generate-form").text
                       or len(d.find_elements("css selector", "#grid img")) == 8)  # fmt: skip
            # 'ba' is not an attribute: the page says so beside the field; then fix it.
            field.send_keys("ngs")
            driver.find_element("id", "generate-button").click()
            wait.until(lambda d: len(d.find_elements("css selector", "#grid img")) == 8)
            whole_page(driver, out / "serve_generate.png")

            driver.find_element("id", "tab-edit").click()
            driver.find_element("id", "edit-file").send_keys(str(files[0]))
            wait.until(
                lambda d: d.find_element("css selector", '.toggle .p[data-name="Male"]').text
            )
            toggle = driver.find_element("css selector", 'select[data-name="Eyeglasses"]')
            Select(toggle).select_by_value("+")
            driver.find_element("id", "edit-button").click()
            wait.until(lambda d: len(d.find_elements("css selector", "#strip img")) == 5)
            whole_page(driver, out / "serve_edit.png")

            # A photograph: its face is found and aligned, and the edit is put back into it.
            photo = ROOT / "experiments" / "photos" / "astronaut.jpg"
            driver.find_element("id", "edit-file").send_keys(str(photo))
            time.sleep(1)  # the new portrait's attributes are read before editing
            driver.execute_script(
                "document.getElementById('strip').replaceChildren();"
                "document.getElementById('edit-photo').hidden = true;"
            )
            driver.find_element("id", "edit-button").click()
            wait.until(lambda d: d.find_element("id", "edit-photo").is_displayed())
            whole_page(driver, out / "serve_edit_photo.png")

            driver.find_element("id", "tab-score").click()
            driver.find_element("id", "score-files").send_keys("\n".join(map(str, files)))
            driver.find_element("id", "score-button").click()
            wait.until(lambda d: len(d.find_elements("css selector", "#score-results tr")) == 4)
            whole_page(driver, out / "serve_score.png")
    finally:
        driver.quit()
        process.terminate()
        process.wait(30)
    for name in ("generate", "edit", "edit_photo", "score"):
        print(f"wrote {out / f'serve_{name}.png'}")


if __name__ == "__main__":
    main()
