"""The HTTP service: every endpoint, every refusal, and batching of concurrent requests,
against a real server on a free loopback port (the starter model)."""

from __future__ import annotations

import base64
import io
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from deepface_gen.generation.generator import FaceGenerator
from deepface_gen.io.images import read_image
from deepface_gen.serving import jobs
from deepface_gen.serving.app import create_app
from deepface_gen.serving.engine import BusyError, Engine
from deepface_gen.serving.limits import Limits

# A first request may compile for a minute on a busy 2-core machine: no client gives up
# sooner than the server's own time limit would.
HTTP = httpx.Client(timeout=300.0)


@pytest.fixture(scope="module", autouse=True)
def _close_http():
    yield
    HTTP.close()


LIMITS = Limits(
    max_faces=8,
    max_steps=20,
    max_size=128,
    max_upload_bytes=300_000,
    max_pixels=1_000_000,
    max_files=3,
    batch_window_ms=20,
    max_batch_faces=8,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def generator():
    return FaceGenerator.load()


@pytest.fixture(scope="module")
def server(generator):
    """The app on uvicorn in a thread: its base URL."""
    import uvicorn

    jobs.warm(generator, LIMITS.max_batch_faces, edit_steps=5)
    port = free_port()
    config = uvicorn.Config(
        create_app(generator, LIMITS), host="127.0.0.1", port=port, log_level="error"
    )
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if HTTP.get(f"{url}/api/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)
    else:
        pytest.fail("the server did not start")
    yield url
    instance.should_exit = True
    thread.join(10)


def decode(b64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))))


def png_upload(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def portrait(generator) -> bytes:
    face = generator.generate("smiling woman", seed=4)[0]
    return png_upload(np.asarray(Image.fromarray(face).resize((96, 96))))


def test_batched_drawing_matches_drawing_each_alone(generator):
    plans = [
        generator.plan("smiling woman", seed=3),
        generator.plan(["male", "blond hair"], n=2, seed=2**40 + 5, temperature=0.3),
        generator.plan("old man", seed=7, method="mixture"),
        generator.plan("young", seed=1, method="paper"),
        generator.plan("male, beard", method="baseline", steps=2),  # not one pass: alone
        generator.plan("bald", seed=3, n=3),
    ]
    assert [p.one_pass for p in plans] == [True, True, True, True, False, True]
    for plan, faces in zip(plans, generator.generate_many(plans), strict=True):
        assert faces.shape == (plan.faces, 64, 64, 3)
        assert np.abs(faces.astype(int) - generator.draw(plan)).max() <= 1


def test_health_and_vocabulary(server):
    health = HTTP.get(f"{server}/api/health").json()
    assert health["status"] == "ok" and health["model"] == "starter" and health["size"] == 64
    assert health["device"] == "cpu"  # not "cpu: cpu"
    icon = HTTP.get(f"{server}/static/favicon.svg")  # the page names it: no 404 in the log
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg")
    vocabulary = HTTP.get(f"{server}/api/attributes").json()
    names = {a["name"]: a for a in vocabulary["attributes"]}
    assert len(names) == 40 and names["Smiling"]["known"]
    assert "smiling" in names["Smiling"]["phrases"]
    assert vocabulary["limits"]["max_faces"] == LIMITS.max_faces
    from deepface_gen.generation import defaults

    edit_defaults = (vocabulary["defaults"]["edit_strength"], vocabulary["defaults"]["edit_focus"])
    assert edit_defaults == (1.0, defaults.EDIT_FOCUS)  # a bare edit's: the starter calibrates
    assert HTTP.get(f"{server}/docs").status_code == 200  # OpenAPI docs
    assert "/api/generate" in HTTP.get(f"{server}/openapi.json").json()["paths"]


def test_generate_matches_the_library(server, generator):
    answer = HTTP.post(f"{server}/api/generate", json={"attrs": "old man", "n": 3, "seed": 5})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    faces = np.stack([decode(b) for b in body["images"]])
    assert faces.shape == (3, 64, 64, 3) and faces.dtype == np.uint8
    assert body["attributes"] == [{"Young": -1.0, "Male": 1.0}] and body["render"] == "net"
    alone = generator.generate("old man", n=3, seed=5)
    assert np.abs(faces.astype(int) - alone).max() <= 1  # batched arithmetic rounds apart


def test_generate_options_by_the_cli_names(server):
    body = {"attrs": {"Smiling": 1.0}, "n": 2, "seed": 1, "temperature": 0.0, "size": 96,
            "method": "mixture", "render": "net", "guidance": 0}  # fmt: skip
    faces = [decode(b) for b in HTTP.post(f"{server}/api/generate", json=body).json()["images"]]
    assert [f.shape for f in faces] == [(96, 96, 3)] * 2
    vae = HTTP.post(f"{server}/api/generate", json={"attrs": "male", "backend": "vae"}).json()
    assert vae["render"] == "vae" and len(vae["images"]) == 1
    grid = HTTP.post(f"{server}/api/generate?format=png", json={"attrs": "male", "n": 4})
    assert grid.headers["content-type"] == "image/png"
    assert np.asarray(Image.open(io.BytesIO(grid.content))).shape[0] > 2 * 64


@pytest.mark.parametrize(
    ("body", "status", "field", "words"),
    [
        ({"attrs": "smilng"}, 400, "attrs", "did you mean Smiling"),
        ({"attrs": "male, female"}, 400, "attrs", "contradictory"),
        ({"attrs": "male", "n": 9}, 400, "n", "at most 8"),
        ({"attrs": ["male", "female"], "n": 1}, 422, "attrs", "valid string"),
        ({"attrs": "male", "n": "many"}, 422, "n", "valid integer"),
        ({"attrs": "male", "n": True}, 422, "n", "valid integer"),  # not silently 1
        ({"attrs": "male", "steps": 50, "render": "optimize"}, 400, "steps", "at most 20"),
        ({"attrs": "male", "size": 4096}, 400, "size", "16 to 128"),
        ({"attrs": "male", "temperature": 9}, 400, "temperature", "from 0 to 5"),
        ({"attrs": "male", "method": "magic"}, 400, "method", "unknown method"),
        ({"attrs": "male", "vae": "/etc/passwd"}, 422, "vae", "not an option"),
        ({"n": 2}, 422, "attrs", "required"),
    ],
)
def test_generate_refusals_name_the_field(server, body, status, field, words):
    answer = HTTP.post(f"{server}/api/generate", json=body)
    assert answer.status_code == status, answer.text
    error = answer.json()
    assert error["field"] == field and words in error["error"]
    assert "Traceback" not in answer.text


def test_a_request_is_followed_by_its_ticket(server):
    body, ticket = {"attrs": "smiling", "n": 1}, {"x-progress-ticket": "test-ticket-1"}
    assert HTTP.post(f"{server}/api/generate", json=body, headers=ticket).status_code == 200
    followed = HTTP.get(f"{server}/api/progress/test-ticket-1").json()
    assert followed == {"state": "done", "done": 0, "total": 0}  # one pass: no steps
    unknown = HTTP.get(f"{server}/api/progress/nobody")
    assert unknown.status_code == 404 and unknown.json()["field"] == "ticket"


def test_malformed_json_and_unknown_format(server):
    answer = HTTP.post(
        f"{server}/api/generate", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert answer.status_code == 422 and "error" in answer.json()
    answer = HTTP.post(f"{server}/api/generate?format=gif", json={"attrs": "male"})
    assert answer.status_code == 422 and answer.json()["field"] == "format"
    assert HTTP.get(f"{server}/api/nothing").json() == {"error": "Not Found", "field": None}
    assert HTTP.get(f"{server}/api/generate").status_code == 405


def test_edit_sweep_starts_at_the_portrait(server, portrait):
    files = {"image": ("me.png", portrait, "image/png")}
    data = {"attrs": "+eyeglasses", "sweep": "0,3", "steps": "5"}
    answer = HTTP.post(f"{server}/api/edit", files=files, data=data, timeout=120)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    given, strip = decode(body["input"]), [decode(b) for b in body["images"]]
    assert body["strengths"] == [0.0, 3.0] and len(strip) == 2
    assert body["photo"] is None  # the upload is the face's square: nothing to put back into
    assert np.abs(strip[0].astype(int) - given).max() <= 1  # strength 0 keeps the portrait
    assert np.abs(strip[1].astype(int) - given).mean() > 0.5  # strength 3 changes it
    png = HTTP.post(f"{server}/api/edit?format=png", files=files, data=data, timeout=120)
    assert png.headers["content-type"] == "image/png"


def test_edit_puts_the_change_back_into_a_photo(server):
    pytest.importorskip("dlib", reason="the photos extra is absent")
    photo_path = Path(__file__).parents[1] / "experiments" / "photos" / "astronaut.jpg"
    photo = read_image(photo_path)
    files = {"image": ("astronaut.jpg", photo_path.read_bytes(), "image/jpeg")}
    data = {"attrs": "+eyeglasses", "align": "on"}
    answer = HTTP.post(f"{server}/api/edit", files=files, data=data, timeout=120)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    pasted = decode(body["photo"])
    assert pasted.shape == photo.shape and body["face"]["score"] > 0.3 and body["note"] is None
    changed = np.any(pasted != photo, axis=-1)
    assert changed.any() and not changed[300:].any()  # the face changed, not the suit
    faceless = {"image": ("grey.png", png_upload(np.full((200, 300, 3), 128, np.uint8)))}
    refused = HTTP.post(f"{server}/api/edit", files=faceless, data=data, timeout=120)
    assert refused.status_code == 400 and "no face found" in refused.json()["error"]
    assert refused.json()["field"] == "image"


def _noise_png(side: int) -> bytes:
    return png_upload(np.random.default_rng(0).integers(0, 255, (side, side, 3), np.uint8))


@pytest.mark.parametrize(
    ("upload", "data", "status", "field", "words"),
    [
        (b"plain text, not a picture", {"attrs": "+smiling"}, 400, "image", "not a readable"),
        (b"", {"attrs": "+smiling"}, 400, "image", "empty"),
        ("tiny", {"attrs": "+smiling"}, 400, "image", "at least 16x16"),
        ("huge", {"attrs": "+smiling"}, 413, "image", "at most 1 megapixels"),
        ("heavy", {"attrs": "+smiling"}, 413, "image", "at most 300,000"),
        ("ok", {"attrs": "+smilin"}, 400, "attrs", "did you mean"),
        ("ok", {"attrs": "+smiling", "sweep": "0,a"}, 400, "sweep", "numbers"),
        ("ok", {"attrs": "+smiling", "sweep": ",".join(["1"] * 9)}, 400, "sweep", "1 to 8"),
        ("ok", {"attrs": "+smiling", "strength": "99"}, 400, "strength", "-10 to 10"),
        ("ok", {"attrs": "+smiling", "steps": "500"}, 400, "steps", "at most 20"),
        ("ok", {"attrs": "+smiling", "render": "paint"}, 400, "render", "unknown render"),
        # The form's options are EditOptions' own, ranges included.
        ("ok", {"attrs": "+smiling", "smoothness": "-1"}, 400, "smoothness", "from 0"),
        ("ok", {"attrs": "+smiling", "guidance": "nan"}, 400, "guidance", "finite"),
        ("ok", {}, 422, "attrs", "required"),
        ("ok", {"attrs": "+smiling", "align": "maybe"}, 400, "align", "use auto, on, off"),
    ],
)
def test_edit_refusals(server, portrait, upload, data, status, field, words):
    content = {
        "ok": portrait,
        "tiny": png_upload(np.zeros((8, 8, 3), np.uint8)),
        "huge": png_upload(np.zeros((1200, 1000, 3), np.uint8)),
        "heavy": _noise_png(400),
    }.get(upload, upload)
    files = {"image": ("x.png", content, "image/png")}
    answer = HTTP.post(f"{server}/api/edit", files=files, data=data)
    assert answer.status_code == status, answer.text
    assert answer.json()["field"] == field and words in answer.json()["error"]


def test_score_reads_each_upload(server, portrait, generator):
    rgba = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 256, (60, 80, 4), dtype=np.uint8)
    Image.fromarray(noise, "RGBA").save(rgba, format="PNG")
    files = [("image", ("a.png", portrait, "image/png")), ("image", ("b.png", rgba.getvalue()))]
    body = HTTP.post(f"{server}/api/score", files=files).json()
    assert [r["name"] for r in body["results"]] == ["a.png", "b.png"]
    first = body["results"][0]["probabilities"]
    assert all(0.0 <= p <= 1.0 for p in first.values()) and "Smiling" in first
    assert first["Smiling"] > 0.5  # the portrait was drawn smiling
    # A drawn portrait lies in the model's domain; noise does not.
    portrait_row, green_row = body["results"]
    assert portrait_row["warning"] is None and portrait_row["domain_distance"] > 0
    assert green_row["warning"].startswith("b.png lies outside what this model was trained on")
    too_many = [("image", (f"{i}.png", portrait)) for i in range(4)]
    answer = HTTP.post(f"{server}/api/score", files=too_many)
    assert answer.status_code == 400 and "at most 3" in answer.json()["error"]


def test_concurrent_generates_are_batched_and_each_gets_its_own(server, generator):
    before = HTTP.get(f"{server}/api/stats").json()["batches"].get("generate", {})
    seeds = list(range(100, 116))

    def one(seed):
        body = {"attrs": "young, blond hair", "seed": seed}
        return decode(
            HTTP.post(f"{server}/api/generate", json=body, timeout=60).json()["images"][0]
        )

    with ThreadPoolExecutor(16) as pool:
        faces = list(pool.map(one, seeds))
    after = HTTP.get(f"{server}/api/stats").json()["batches"]["generate"]
    new = {int(k): v - before.get(k, 0) for k, v in after.items() if v > before.get(k, 0)}
    assert sum(size * count for size, count in new.items()) == 16
    assert max(new) > 1, new  # at least one batched call served several requests
    for seed, face in zip(seeds, faces, strict=True):
        alone = generator.generate("young, blond hair", seed=seed)[0]
        assert np.abs(face.astype(int) - alone).max() <= 1


def test_engine_gathers_a_group_and_refuses_when_full():
    calls = []

    def runner(payloads):
        calls.append(list(payloads))
        return [p * 10 for p in payloads]

    engine = Engine({"x": runner}, Limits(batch_window_ms=200, max_queue=4, max_batch_faces=3))
    arrival = engine.arrival()  # a request still arriving makes the batch wait for it
    futures = [engine.submit("x", i, group="g") for i in range(2)]
    futures.append(engine.submit("x", 2, group="g", arrival=arrival))
    futures.append(engine.submit("x", 3, group="g"))  # over max_batch_faces: next batch
    with pytest.raises(BusyError, match="4 requests waiting"):
        engine.submit("x", 4, group="g")
    with engine:
        assert [f.result(5) for f in futures] == [0, 10, 20, 30]
    assert calls == [[0, 1, 2], [3]]


def test_a_failing_job_fails_alone():
    def runner(payloads):
        if "bad" in payloads:
            raise ValueError("bad payload")
        return payloads

    with Engine({"x": runner}, Limits(batch_window_ms=50)) as engine:
        arrival = engine.arrival()
        good = engine.submit("x", "good", group="g")
        bad = engine.submit("x", "bad", group="g", arrival=arrival)
        assert good.result(5) == "good"
        with pytest.raises(ValueError, match="bad payload"):
            bad.result(5)


def test_a_ticket_follows_a_job_from_queued_to_its_last_step():
    from deepface_gen import progress
    from deepface_gen.serving.tickets import Tickets

    release, seen = threading.Event(), []

    def runner(payloads):
        for step in (10, 20):
            progress.report(step, 20)
            seen.append(step)
            release.wait(5)
        return payloads

    tickets = Tickets()
    with Engine({"x": runner}, Limits(batch_window_ms=0)) as engine:
        future = engine.submit("x", "a")
        tickets.follow("page-1", future)
        tickets.follow("not a name!", future)  # ignored, never refused
        while not seen:
            time.sleep(0.01)
        assert tickets.state("page-1") == {"state": "running", "done": 10, "total": 20}
        release.set()
        future.result(5)
    assert tickets.state("page-1") == {"state": "done", "done": 20, "total": 20}
    assert tickets.state("not a name!") is None and tickets.state("page-2") is None


def test_a_job_nobody_waits_for_stops_and_frees_the_queue():
    """A running job whose caller gave up stops between two chunks of its steps; the
    request behind it runs at once instead of waiting out the 100 steps."""
    from deepface_gen import progress

    steps = []

    def runner(payloads):
        for step in range(1, 101 if payloads[0] == "long" else 2):
            time.sleep(0.02)
            steps.append(step)
            progress.report(step, 100)
        return payloads

    with Engine({"x": runner}, Limits(batch_window_ms=0)) as engine:
        long = engine.submit("x", "long")
        while not steps:
            time.sleep(0.01)
        long.give_up()
        began = time.perf_counter()
        assert engine.submit("x", "short").result(10) == "short"
        assert time.perf_counter() - began < 1.0  # 100 x 20 ms would be 2 s
        with pytest.raises(progress.AbandonedError, match="nobody waits for this x"):
            long.result(1)
        assert len(steps) < 60 and engine.stats()["abandoned"] == 1


CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium driven by Selenium (README's test command installs both)."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("Debian's chromium and chromium-driver are not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--window-size=1280,900"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


def _page_images(driver, selector: str) -> list[np.ndarray]:
    sources = [img.get_attribute("src") for img in driver.find_elements("css selector", selector)]
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    return [decode(s.split(",", 1)[1]) for s in sources]


def test_web_page_generates_edits_and_scores(server, browser, portrait, generator, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)
    browser.get(server)
    wait.until(lambda d: "attributes known" in d.find_element("id", "model-line").text)
    field = browser.find_element("id", "attrs")
    field.clear()
    field.send_keys("old man, eyeg")
    wait.until(lambda d: d.find_elements("css selector", "#attrs-suggestions button"))
    browser.find_element("css selector", "#attrs-suggestions button").click()
    assert field.get_attribute("value") == "old man, eyeglasses"
    field.send_keys(" ")  # the word is complete: no chip offers it again
    assert not browser.find_elements("css selector", "#attrs-suggestions button")
    # The selects start at the model's defaults and the temperature at theirs; another
    # method shows its own until the slider is moved.
    from selenium.webdriver.support.ui import Select

    from deepface_gen.generation import defaults

    value_of = "return document.getElementById(arguments[0]).value"
    assert browser.execute_script(value_of, "method") == generator.plan("smiling").method
    temperature = float(browser.execute_script(value_of, "temperature"))
    assert temperature == defaults.BORROWED_TEMPERATURE
    Select(browser.find_element("id", "method")).select_by_value("paper")
    assert float(browser.execute_script(value_of, "temperature")) == defaults.TEMPERATURE
    Select(browser.find_element("id", "method")).select_by_value("mixture")
    browser.execute_script("document.getElementById('n').value = 3")
    browser.find_element("id", "generate-button").click()
    wait.until(lambda d: len(d.find_elements("css selector", "#grid img")) == 3)
    faces = _page_images(browser, "#grid img")
    assert [f.shape for f in faces] == [(64, 64, 3)] * 3
    browser.save_screenshot(str(tmp_path / "generate.png"))

    # A mistake is shown beside the field that caused it.
    field.clear()
    field.send_keys("smilng")
    browser.find_element("id", "generate-button").click()
    error = '#generate-form .error[data-for="attrs"]'
    wait.until(lambda d: d.find_element("css selector", error).text)
    assert "did you mean Smiling" in browser.find_element("css selector", error).text

    browser.find_element("id", "tab-edit").click()
    upload = tmp_path / "portrait.png"
    upload.write_bytes(portrait)
    browser.find_element("id", "edit-file").send_keys(str(upload))
    wait.until(lambda d: d.find_element("css selector", '.toggle .p[data-name="Smiling"]').text)
    toggle = browser.find_element("css selector", '#edit-attrs select[data-name="Eyeglasses"]')
    Select(toggle).select_by_value("+")
    browser.find_element("id", "edit-button").click()
    wait.until(lambda d: len(d.find_elements("css selector", "#strip img")) == 5)
    strip = _page_images(browser, "#strip img")
    assert len(strip) == 5 and all(s.shape == (64, 64, 3) for s in strip)  # input + 4 strengths
    focus = "return document.getElementById('focus').value"  # starts at the server's default
    assert float(browser.execute_script(focus)) == defaults.EDIT_FOCUS
    # At 1280 x 900 the Edit button and the strip it made are both in view.
    in_view = "return document.getElementById(arguments[0]).getBoundingClientRect().bottom"
    height = browser.execute_script("window.scrollTo(0, 0); return window.innerHeight")
    browser.save_screenshot(str(tmp_path / "edit.png"))
    assert browser.execute_script(in_view, "edit-button") <= height
    assert browser.execute_script(in_view, "strip") <= height

    browser.find_element("id", "tab-score").click()
    browser.find_element("id", "score-files").send_keys(str(upload))
    browser.find_element("id", "score-button").click()
    wait.until(lambda d: d.find_elements("css selector", "#score-results tr td"))
    # The table names the six attributes the scoring API rates most likely, in order.
    scored = HTTP.post(f"{server}/api/score", files=[("image", ("p.png", portrait))]).json()
    likely = sorted(scored["results"][0]["probabilities"].items(), key=lambda kv: -kv[1])
    shown = browser.find_element("id", "score-results").text
    positions = [shown.find(name.replace("_", " ")) for name, _ in likely[:6]]
    assert -1 not in positions and positions == sorted(positions), (shown, likely[:6])


def test_the_serve_command_answers_on_loopback(tiny_bundle):
    import subprocess
    import sys

    port = free_port()
    command = [sys.executable, "-m", "deepface_gen.cli.main", "serve", "--model",
               str(tiny_bundle), "--port", str(port), "--max-batch", "2"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            assert process.poll() is None, process.stdout.read().decode()
            try:
                health = HTTP.get(f"{url}/api/health", timeout=1).json()
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert health["status"] == "ok" and health["size"] == 16
        body = {"attrs": "smiling", "steps": 2}  # optimize: no inverter in this bundle
        answer = HTTP.post(f"{url}/api/generate", json=body, timeout=120)
        assert answer.status_code == 200 and answer.json()["render"] == "optimize"
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    assert "warm in" in output and f"ready on http://127.0.0.1:{port}" in output


def test_warming_shows_what_it_compiles(generator, capsys):
    """serve's start-up is not a silent wait: a bar counts the programs compiled and says
    which one is under way (quiet by default for the library)."""
    jobs.warm(generator, 1, edit_steps=2, quiet=False)
    err = capsys.readouterr().err
    assert "warming" in err and "3/3" in err and "edit, 4 strengths" in err
    jobs.warm(generator, 1, edit_steps=2)
    assert "warming" not in capsys.readouterr().err
