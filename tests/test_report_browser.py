"""The HTML report (`snakemake --report`) opened in a real browser: Debian's headless chromium,
driven over the DevTools protocol on a pipe (no driver download). Every figure must load, every
table must render, and the page must log no console error or uncaught exception.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_slurm import TINY_CONFIG, tool_env

SNAKEFILE = ROOT / "workflow" / "Snakefile"
BROWSER = next((shutil.which(b) for b in ("chromium", "chromium-browser") if shutil.which(b)), None)
# The tiny run plus a figure study that reuses its trained run (no extra training).
STUDIES = """
studies:
  fig4_bias: {methods: [none]}
"""
REPORT_CONFIG = TINY_CONFIG + STUDIES
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(BROWSER is None, reason="no chromium installed: apt-get install chromium"),
]


class Browser:
    """One headless chromium tab, spoken to over --remote-debugging-pipe (fd 3 in, fd 4 out)."""

    def __init__(self, profile_dir: Path, timeout_s: float = 120):
        to_browser, self._write = os.pipe()
        self._read, from_browser = os.pipe()
        args = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--remote-debugging-pipe", f"--user-data-dir={profile_dir}", "about:blank"]  # fmt: skip
        # the browser reads commands from its fd 3 and writes replies to its fd 4
        wired = f'exec "$@" 3<&{to_browser} 4>&{from_browser}'
        self.proc = subprocess.Popen(["bash", "-c", wired, "browser", *args],
                                     pass_fds=(to_browser, from_browser),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        os.close(to_browser)
        os.close(from_browser)
        self._buffer, self._next_id, self.events = b"", 0, []
        self.deadline = time.monotonic() + timeout_s
        page = next(t for t in self.call("Target.getTargets")["targetInfos"] if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", targetId=page["targetId"],
                                 flatten=True)["sessionId"]  # fmt: skip
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=True)

    def _message(self) -> dict:
        while b"\0" not in self._buffer:
            if time.monotonic() > self.deadline:
                raise TimeoutError("the browser did not answer in time")
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise RuntimeError("the browser closed its pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, session: bool = False, **params) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._message()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def evaluate(self, expression: str, context: int | None = None):
        params = {"expression": expression, "returnByValue": True, "awaitPromise": True}
        if context is not None:
            params["contextId"] = context
        result = self.call("Runtime.evaluate", session=True, **params)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_until(self, expression: str, limit_s: float = 30):
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"never true in the report page: {expression}")

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads logged so far."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(str(params["exceptionDetails"]))
            elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                found.append(str([a.get("value", a.get("description")) for a in params["args"]]))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(params["entry"]["text"])
        return found

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)
        os.close(self._write)
        os.close(self._read)


# Opens one result the way a reader does: Results, its category, its subcategory (when the
# category has more than one), then the eye button of its row.
SHOW = """(async (path) => {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const click = async (label) => {
    for (let i = 0; i < 100; i++) {
      const link = [...document.querySelectorAll("a")].find((a) => a.textContent.trim() === label);
      if (link) { link.click(); await sleep(100); return true; }
      await sleep(100);
    }
    return false;
  };
  const [category, subs] = Object.entries(categories).find(([, s]) =>
    Object.values(s).some((paths) => paths.includes(path)));
  const sub = Object.keys(subs).find((s) => subs[s].includes(path));
  await click("Results");
  await click(category);
  if (Object.keys(subs).length > 1 || sub !== "Other") await click(sub);
  for (let i = 0; i < 100; i++) {
    const row = [...document.querySelectorAll("tr")].find((r) =>
      r.querySelector("td") && r.querySelector("td").textContent.trim() === path);
    if (row) { row.querySelector("a[iconname=eye]").click(); return true; }
    await sleep(100);
  }
  return false;
})"""
SHOWN = """(() => {
  const uri = results[%s].data_uri;
  const el = [...document.querySelectorAll("img, iframe")].find((e) => e.src === uri);
  if (!el) return null;
  const box = el.getBoundingClientRect();
  const loaded = el.tagName === "IMG" ? el.complete && el.naturalWidth > 0 : true;
  return loaded && box.width > 0 && box.height > 0 ? el.tagName : null;
})()"""
TABLE_ROWS = """[...document.querySelectorAll("table tr")]
  .filter((r) => r.getBoundingClientRect().height > 0).length"""


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """report.html of a tiny run (its tables and two figures), built in a scratch folder."""
    workdir = tmp_path_factory.mktemp("report-run")
    config = workdir / "tiny.yaml"
    config.write_text(REPORT_CONFIG)
    base = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--directory", str(workdir)]
    for args in (["all", "--cores", "2"], ["--report", str(workdir / "report.html")]):
        command = [*base, *args, "--configfile", str(config)]  # --configfile takes the rest
        done = subprocess.run(command, cwd=workdir, env=tool_env(), capture_output=True,
                              text=True, timeout=1800)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
    return workdir


def frame_context(browser: Browser, uri: str) -> int:
    """An execution context inside the report's iframe showing `uri`."""
    tree = browser.call("Page.getFrameTree", session=True)["frameTree"]
    frame = next(c["frame"] for c in tree.get("childFrames", []) if c["frame"]["url"] == uri)
    world = browser.call("Page.createIsolatedWorld", session=True, frameId=frame["id"])
    return world["executionContextId"]


def test_every_figure_and_table_of_the_report_shows_without_errors(report, tmp_path):
    expected = sorted(
        str(p.relative_to(report))
        for pattern in ("results/*/tables/*.html", "results/*/figures/*.png")
        for p in report.glob(pattern)
    )
    assert any(p.endswith(".png") for p in expected), "the run drew no figure"
    browser = Browser(tmp_path / "profile")
    try:
        browser.call("Page.navigate", session=True, url=(report / "report.html").as_uri())
        browser.wait_until("document.readyState === 'complete' && typeof results === 'object'")
        assert sorted(browser.evaluate("Object.keys(results)")) == expected
        shown = {}
        for path in expected:
            assert browser.evaluate(f"{SHOW}({json.dumps(path)})"), f"{path}: no row to open"
            shown[path] = browser.wait_until(SHOWN % json.dumps(path))
            if path.endswith(".html"):
                uri = browser.evaluate(f"results[{json.dumps(path)}].data_uri")
                rows = browser.evaluate(TABLE_ROWS, context=frame_context(browser, uri))
                assert rows > 1, f"{path}: the table shows {rows} rows"
        assert browser.errors() == []
    finally:
        browser.close()
    assert {p for p, tag in shown.items() if tag == "IMG"} == {
        p for p in expected if p.endswith(".png")
    }
