"""``pointtune report`` in a real browser: headless Chromium (Debian's ``chromium`` package, which ``.ci/run``
installs; never a browser download) driven over the DevTools protocol with websocket-client.

Each report is checked for: no console error or uncaught exception, no network request (the file is
self-contained), one table row per trial, figures that are images with pixels other than white, and sorting by a
real mouse click on a column header. Skipped, with the reason, where Chromium or websocket-client is missing.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from search.cli.main import main
from search.report import page as report

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium")
                 if p and os.access(p, os.X_OK)), None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--remote-debugging-port=0", "--window-size=1400,1000"]


class Page:
    """One Chromium tab over the DevTools protocol (one websocket to the browser, a flat session to the tab)."""

    def __init__(self, ws: Any):
        self.ws, self.ids, self.session = ws, itertools.count(1), None
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, timeout: float = 30.0, **params: Any) -> dict[str, Any]:
        call = {"id": next(self.ids), "method": method, "params": params}
        if self.session:
            call["sessionId"] = self.session
        self.ws.send(json.dumps(call))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = json.loads(self.ws.recv())
            if message.get("id") == call["id"]:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            self.events.append(message)
        raise TimeoutError(method)

    def wait_for(self, method: str, timeout: float = 30.0) -> dict[str, Any]:
        """The first event ``method`` of this tab."""
        def mine(e: dict[str, Any]) -> bool:
            return e.get("method") == method and e.get("sessionId") == self.session

        seen = next((e for e in self.events if mine(e)), None)
        deadline = time.monotonic() + timeout
        while seen is None and time.monotonic() < deadline:
            message = json.loads(self.ws.recv())
            self.events.append(message)
            if mine(message):
                seen = message
        if seen is None:
            raise TimeoutError(method)
        return seen

    def js(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}...: {result['exceptionDetails']}")
        return result["result"].get("value")

    def click(self, selector: str) -> None:
        """A real mouse click (pressed and released) at the centre of the element."""
        box = self.js(f"(function () {{ var e = document.querySelector({json.dumps(selector)}); "
                      "e.scrollIntoView({block: 'center'}); var r = e.getBoundingClientRect(); "
                      "return [r.left + r.width / 2, r.top + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions and log errors; requests for anything but the file itself."""
        found = []
        for e in self.events:
            if e.get("sessionId") != self.session:
                continue
            method, p = e.get("method"), e.get("params", {})
            if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                found.append(f"console.{p['type']}: {[a.get('value') for a in p.get('args', [])]}")
            elif method == "Runtime.exceptionThrown":
                found.append(f"exception: {p['exceptionDetails']}")
            elif method == "Log.entryAdded" and p["entry"]["level"] == "error":
                found.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
            elif method == "Network.requestWillBeSent" and not p["request"]["url"].startswith(("file:", "data:")):
                found.append(f"network request: {p['request']['url']}")
        return found


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium (its own fresh profile), reached over DevTools; yields a function that opens a file."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium; .ci/run installs it where it can)")
    websocket = pytest.importorskip("websocket", reason="websocket-client is not installed (pip install -e '.[test]')")
    profile = tempfile.mkdtemp(prefix="pointtune-chromium-")
    proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        port_file = Path(profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.is_file() and len(port_file.read_text().splitlines()) >= 2):
            if proc.poll() is not None:
                pytest.skip(f"chromium at {CHROMIUM} exited at start (status {proc.returncode}); it cannot run here")
            if time.monotonic() > deadline:
                pytest.fail("chromium did not write DevToolsActivePort within 60 s")
            time.sleep(0.1)
        port, path = port_file.read_text().splitlines()[:2]
        ws = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=60, suppress_origin=True)
        pages: list[Page] = []

        def open_page(html_file: Path) -> Page:
            page = Page(ws)
            target = page.send("Target.createTarget", url="about:blank")["targetId"]
            page.session = page.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            for domain in ("Runtime", "Log", "Page", "Network"):
                page.send(f"{domain}.enable")
            page.send("Page.navigate", url=html_file.resolve().as_uri())
            page.wait_for("Page.loadEventFired")
            pages.append(page)
            return page

        yield open_page
        ws.close()
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        shutil.rmtree(profile, ignore_errors=True)


# every <img> drawn on a canvas: its size and the share of its pixels that are not (near) white
FIGURE_PIXELS = """
Promise.all(Array.prototype.map.call(document.images, function (img) {
  return img.decode().then(function () {
    var c = document.createElement('canvas');
    c.width = img.naturalWidth; c.height = img.naturalHeight;
    var ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    var d = ctx.getImageData(0, 0, c.width, c.height).data, ink = 0;
    for (var i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] < 735 && d[i + 3] > 0) ink++;
    return {alt: img.alt, width: c.width, height: c.height, ink: ink / (c.width * c.height)};
  });
}))
"""

COLUMN = ("Array.prototype.map.call(document.querySelectorAll('#trials tbody tr'), function (r) {{ "
          "return r.cells[{i}].getAttribute('data-v'); }})")


def _column_index(page: Page, name: str) -> int:
    return page.js(f"Array.prototype.map.call(document.querySelectorAll('#trials thead th'), "
                   f"function (th) {{ return th.textContent; }}).indexOf({json.dumps(name)})")


def _check_figures(page: Page, at_least: int) -> list[dict[str, Any]]:
    figures = page.js(FIGURE_PIXELS)
    assert len(figures) >= at_least, figures
    blank = [f for f in figures if f["width"] < 100 or f["height"] < 100 or f["ink"] < 0.01]
    assert not blank, f"blank or empty figures: {blank}"
    return figures


def _check_sorting(page: Page, column: str, trials: int) -> None:
    """A click on the header sorts the rows ascending by that column, a second click descending; every row stays."""
    i = _column_index(page, column)
    assert i >= 0, column
    selector = f"#trials thead th:nth-child({i + 1})"
    for order in ("ascending", "descending"):
        page.click(selector)
        values = page.js(COLUMN.format(i=i))
        assert len(values) == trials
        numbers = [float(v) for v in values if v]
        expected = sorted(numbers, reverse=order == "descending")
        assert numbers == expected, f"{order}: {values}"
        assert values[len(numbers):] == [""] * (trials - len(numbers)), "empty cells go last"
        assert page.js(f"document.querySelector('{selector}').getAttribute('aria-sort')") == order


def test_a_hand_made_search_report_sorts_filters_and_marks_trials(browser, tmp_path: Path) -> None:
    from test_report import hand_made

    inp = report.ReportInput(str(tmp_path / "search-x"), "search", hand_made(), settings={"trials": 5})
    _a_study(tmp_path / "search-x")
    html_file = tmp_path / "hand.html"
    html_file.write_text(report.build_report(inp, model=False))
    page = browser(html_file)
    assert page.js("document.querySelectorAll('#trials tbody tr').length") == 5
    marks = page.js("Array.prototype.map.call(document.querySelectorAll('#trials .mark'), "
                    "function (m) { return m.className + ':' + getComputedStyle(m).backgroundColor; })")
    assert {m.split(":")[0] for m in marks} == {"mark finished", "mark stopped", "mark running", "mark diverged",
                                                "mark failed"}
    assert len({m.split(":")[1] for m in marks}) == 5, f"each status has its own colour: {marks}"
    _check_sorting(page, "best_val_f1", 5)
    _check_sorting(page, "lr", 5)
    page.js("var s = document.getElementById('status-filter'); s.value = 'failed'; "
            "s.dispatchEvent(new Event('change'))")
    assert page.js("Array.prototype.filter.call(document.querySelectorAll('#trials tbody tr'), "
                   "function (r) { return r.style.display !== 'none'; }).length") == 1
    assert page.js("document.getElementById('shown').textContent") == "1 of 5 trial(s) shown"
    page.js("var s = document.getElementById('status-filter'); s.value = ''; s.dispatchEvent(new Event('change')); "
            "var f = document.getElementById('filter'); f.value = 't_ru'; f.dispatchEvent(new Event('input'))")
    assert page.js("document.getElementById('shown').textContent") == "1 of 5 trial(s) shown"
    alts = [f["alt"] for f in _check_figures(page, at_least=6)]
    assert any(a.startswith("every trial across the searched settings") for a in alts), alts
    assert "the searched settings ranked by importance" in alts
    assert "What the search learned" in page.js("document.getElementById('sec-learned').textContent")
    assert page.problems() == []


def _a_study(folder: Path) -> None:
    """An Optuna journal of 12 trials in ``folder``, as a search keeps it: the report ranks its settings."""
    import optuna

    from search.files import JOURNAL_FILE

    folder.mkdir(parents=True, exist_ok=True)
    journal = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(folder / JOURNAL_FILE)))
    study = optuna.create_study(direction="maximize", storage=journal, sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: t.suggest_float("train/lr", 1e-4, 1e-2, log=True) + 0 * t.suggest_int("train/epochs", 1,
                                                                                                     4), n_trials=12)


def test_a_train_folder_report_renders_with_the_best_models_images(browser, train_dir: Path, tmp_path: Path) -> None:
    html_file = tmp_path / "train.html"
    assert main(["report", str(train_dir), "--out", str(html_file), "--device", "cpu"]) == 0
    page = browser(html_file)
    assert page.js("document.querySelectorAll('#trials tbody tr').length") == 1
    figures = _check_figures(page, at_least=5)
    alts = [f["alt"] for f in figures]
    assert "confusion matrix" in alts and any(a.startswith("validation image") for a in alts)
    assert any(a.startswith("training image") for a in alts), "the clicks it was trained with"
    _check_sorting(page, "best_val_f1", 1)
    assert page.problems() == []


@pytest.mark.slow
def test_a_real_search_report_has_one_row_per_trial(browser, ray_local, demo_dir: Path, tmp_path: Path) -> None:
    """A real two-trial search (Ray Tune + Optuna): its checkpoints are fetched through Tune, its test score shown."""
    storage = tmp_path / "storage"
    assert main(["run", "--data", str(demo_dir), "--backbone", "tiny", "--tile-size", "32", "--crops-per-epoch", "32",
                 "--cpus-per-trial", "1", "--density-range", "0.01", "0.1", "--trials", "2", "--epochs-range", "1",
                 "2", "--lr-range", "1e-3", "1e-2", "--storage", str(storage), "--name", "two"]) == 0
    html_file = tmp_path / "search.html"
    assert main(["report", str(storage / "two"), "--out", str(html_file), "--device", "cpu"]) == 0
    page = browser(html_file)
    assert page.js("document.querySelectorAll('#trials tbody tr').length") == 2
    assert "Test score" in page.js("document.getElementById('sec-summary').textContent")
    _check_figures(page, at_least=6)
    _check_sorting(page, "lr", 2)
    assert page.problems() == []
