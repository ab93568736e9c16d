"""report.html in a real browser: headless Chromium opens it from file:// with networking off.

No console errors, no request other than the page itself and data: URIs, every <img> decodes,
every section is present, the table script works, and a dataset string never runs as script.
A full-page screenshot goes to test-artifacts/. Chromium is driven over the DevTools protocol
on a pipe (``--remote-debugging-pipe``: NUL-separated JSON on file descriptors 3 and 4), so the
test needs no websocket library.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from sodaudit.cli import main

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
TIMEOUT = 60.0


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(
        "Chromium is not installed (Debian: apt-get install chromium); the real-browser test needs it"
    )


class Browser:
    """The smallest DevTools client: send a command, collect events until its answer arrives."""

    def __init__(self, exe: str, profile: str) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        args = [
            exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-default-apps", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
            '--host-resolver-rules=MAP * ~NOTFOUND', f"--user-data-dir={profile}",
            "--remote-debugging-pipe", "--window-size=1280,1000", "about:blank",
        ]  # fmt: skip

        def wire() -> None:  # the browser reads commands on fd 3 and writes answers on fd 4
            os.dup2(to_browser_r, 3)  # dup2 makes them inheritable; the originals close on exec
            os.dup2(from_browser_w, 4)

        self.proc = subprocess.Popen(
            args, preexec_fn=wire, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the DevTools pipe")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_browser, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            answer = self._read(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            self.events.append(answer)

    def wait_for(self, method: str) -> dict:
        deadline = time.monotonic() + TIMEOUT
        while True:
            for event in self.events:
                if event.get("method") == method:
                    return event
            self.events.append(self._read(deadline))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.send("Browser.close")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self._to_browser)
        os.close(self._from_browser)


CHECKS = """(() => {
  const imgs = Array.from(document.images);
  const filter = document.querySelector('input.filter');
  let filtered = null;
  if (filter) {
    const table = filter.parentNode.querySelector('table');
    const first = table.tBodies[0].rows[0].cells[0].textContent;
    filter.value = first;
    filter.dispatchEvent(new Event('input'));
    filtered = Array.from(table.tBodies[0].rows).filter(r => r.style.display !== 'none').length;
    filter.value = '';
    filter.dispatchEvent(new Event('input'));
  }
  const th = document.querySelector('table.labels th.sortable');
  if (th) { th.click(); }
  return {
    images: imgs.length,
    broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 40)),
    ids: Array.from(document.querySelectorAll('[id]')).map(e => e.id),
    scripts: document.scripts.length,
    filtered: filtered,
    sorted: th ? th.getAttribute('data-dir') : null,
    pwned: window.__pwned === true,
    height: document.documentElement.scrollHeight,
  };
})()"""


LAYOUT = """(() => {
  const width = document.documentElement.clientWidth;
  const top = id => {
    const e = document.getElementById(id);
    return e ? e.getBoundingClientRect().top : null;
  };
  const named = e => {
    const owner = e.closest('[id]');
    const where = owner ? ' in #' + owner.id : '';
    return e.tagName.toLowerCase() + (e.className ? '.' + e.className : '') + where;
  };
  const all = Array.from(document.querySelectorAll('body *')).filter(e => e.getClientRects().length);
  return {
    width: width,
    page_scroll_width: document.documentElement.scrollWidth,
    overflowing: all.filter(e => e.getBoundingClientRect().right > width + 1).slice(0, 10).map(named),
    scrolled: all.filter(e => ['auto', 'scroll', 'hidden'].includes(getComputedStyle(e).overflowX)
                              && e.scrollWidth > e.clientWidth + 1).slice(0, 10).map(named),
    tops: Object.fromEntries(
      ['verdict', 'what-to-change', 'gate', 'dataset', 'findings'].map(i => [i, top(i)])),
  };
})()"""
"""Where the first-screen sections start and what is wider than the window, at 1280x800."""
FIRST_SCREEN = (1280, 800)


def open_report(page: Path, shot: Path, first_screen: Path | None = None) -> tuple[dict, list[dict]]:
    """Load ``page`` and return the in-page checks (with the layout at 1280x800 under
    ``"layout"``) and every DevTools event; ``first_screen``: also save the 1280x800 view."""
    with tempfile.TemporaryDirectory(prefix="sodaudit-chromium-") as profile:
        browser = Browser(chromium(), profile)
        try:
            target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
                "sessionId"
            ]
            for domain in ("Page", "Network", "Runtime", "Log"):
                browser.send(f"{domain}.enable", session=session)
            browser.events.clear()
            browser.send("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
            browser.wait_for("Page.loadEventFired")
            # let every data: image finish decoding
            browser.send(
                "Runtime.evaluate",
                {
                    "expression": "Promise.all(Array.from(document.images).map("
                    "i => i.decode().catch(() => null)))",
                    "awaitPromise": True,
                },
                session=session,
            )
            width, height = FIRST_SCREEN
            browser.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                session=session,
            )
            layout = browser.send(
                "Runtime.evaluate", {"expression": LAYOUT, "returnByValue": True}, session=session
            )
            assert "exceptionDetails" not in layout, layout["exceptionDetails"]
            if first_screen is not None:
                png = browser.send("Page.captureScreenshot", {"format": "png"}, session=session)["data"]
                first_screen.parent.mkdir(parents=True, exist_ok=True)
                first_screen.write_bytes(base64.b64decode(png))
            answer = browser.send(
                "Runtime.evaluate", {"expression": CHECKS, "returnByValue": True}, session=session
            )
            assert "exceptionDetails" not in answer, answer["exceptionDetails"]
            checks = answer["result"]["value"]
            checks["layout"] = layout["result"]["value"]
            height = min(int(checks["height"]), 16000)
            browser.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": 1280, "height": height, "deviceScaleFactor": 1, "mobile": False},
                session=session,
            )
            png = browser.send("Page.captureScreenshot", {"format": "png"}, session=session)["data"]
            shot.parent.mkdir(parents=True, exist_ok=True)
            shot.write_bytes(base64.b64decode(png))
            events = list(browser.events)
        finally:
            browser.close()
    return checks, events


def problems(events: list[dict], page: Path) -> dict[str, list]:
    page_url = page.resolve().as_uri()
    requests = [
        e["params"]["request"]["url"] for e in events if e.get("method") == "Network.requestWillBeSent"
    ]
    return {
        "external_requests": [u for u in requests if u != page_url and not u.startswith("data:")],
        "failed_requests": [e["params"] for e in events if e.get("method") == "Network.loadingFailed"],
        "console_errors": [
            e["params"] for e in events
            if (e.get("method") == "Runtime.consoleAPICalled"
                and e["params"].get("type") in ("error", "assert"))
            or e.get("method") == "Runtime.exceptionThrown"
            or (e.get("method") == "Log.entryAdded" and e["params"]["entry"].get("level") == "error")
        ],
    }  # fmt: skip


def assert_clean(checks: dict, events: list[dict], page: Path, sections: list[str]) -> None:
    found = problems(events, page)
    assert found == {"external_requests": [], "failed_requests": [], "console_errors": []}, found
    assert checks["broken"] == [], checks["broken"]
    missing = [s for s in sections if s not in checks["ids"]]
    assert not missing, f"sections missing: {missing}"
    assert checks["scripts"] == 1
    assert not checks["pwned"]


def run_report(dataset: Path, out: Path, *extra: str) -> Path:
    assert main(["run", str(dataset), "--out", str(out), "--fail-on", "never", *extra]) == 0
    return out / "report.html"


def sections_of(out: Path) -> list[str]:
    report = json.loads((out / "report.json").read_text())
    return ["verdict", "gate", "dataset", "findings"] + [f"analyzer-{name}" for name in report["analyzers"]]


def assert_first_screen(layout: dict) -> None:
    """Verdict, then what to change, then the gate, above the dataset card; the verdict and the
    start of what to change on the first 800 px; nothing wider than the 1280 px window."""
    tops = layout["tops"]
    order = [
        tops[name] for name in ("verdict", "what-to-change", "gate", "dataset") if tops[name] is not None
    ]
    assert tops["verdict"] is not None and order == sorted(order), tops
    assert tops["verdict"] < FIRST_SCREEN[1] and (tops["what-to-change"] or 0) < FIRST_SCREEN[1], tops
    assert layout["page_scroll_width"] <= layout["width"], layout
    assert layout["overflowing"] == [], layout["overflowing"]
    assert layout["scrolled"] == [], f"columns hidden behind a horizontal scroll: {layout['scrolled']}"


def test_sample_report_in_chromium(sample_data: Path, tmp_path: Path):
    chromium()
    page = run_report(sample_data / "yolo", tmp_path / "out", "--pixels")  # every section and figure
    checks, events = open_report(
        page, ARTIFACTS / "report-sample_data.png", ARTIFACTS / "first-screen-sample_data.png"
    )
    assert_first_screen(checks["layout"])
    assert_clean(checks, events, page, [*sections_of(tmp_path / "out"), "gallery"])
    assert checks["images"] > 5, "figures and gallery crops are images"
    assert checks["filtered"] is not None and checks["filtered"] >= 1, "the filter box works"
    assert checks["sorted"] == "asc", "clicking a header sorts"


@pytest.mark.parametrize(
    ("name", "path"),
    [("coco_mini", "coco_mini/annotations/instances_val2017.json"), ("ships_yolo", "ships_yolo")],
)
def test_real_report_in_chromium(realdata: Path, tmp_path: Path, name: str, path: str):
    chromium()
    page = run_report(realdata / path, tmp_path / "out")
    checks, events = open_report(
        page, ARTIFACTS / f"report-{name}.png", ARTIFACTS / f"first-screen-{name}.png"
    )
    assert_clean(checks, events, page, sections_of(tmp_path / "out"))
    assert_first_screen(checks["layout"])


def test_hostile_names_do_not_run_in_chromium(tmp_path: Path):
    chromium()
    from tests.test_report_html import write_hostile_coco

    data = write_hostile_coco(tmp_path / "data")
    text = (
        data.read_text()
        .replace("alert('c')", "window.__pwned=true")
        .replace("alert(1)", "window.__pwned=true")
    )
    data.write_text(text)
    page = run_report(data, tmp_path / "out")
    checks, events = open_report(page, ARTIFACTS / "report-hostile.png")
    assert_clean(checks, events, page, sections_of(tmp_path / "out"))
