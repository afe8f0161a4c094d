"""Fixtures of the explorer's tests: ``kvcli ui`` in a subprocess on a free port, and a headless Chromium.

The browser is Debian's ``chromium`` (``/usr/bin/chromium``, or ``KVCLI_CHROMIUM``) driven by Playwright for Python;
without either the browser tests skip, unless ``KVCLI_REQUIRE_BROWSER=1`` (set by .ci/run, which installs chromium)
makes that a failure. Chromium is started with the flags that keep it off the network (no background networking,
component updates, sync or QUIC), and every request a page makes to anything but 127.0.0.1 is aborted.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import subprocess_env

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
#: where the tests save screenshots of each page (docs/ui/), when this variable names a directory
SCREENSHOTS = os.environ.get("KVCLI_UI_SCREENSHOTS")


class UiServe:
    """``python -m kvcli [GLOBAL FLAGS] ui --no-browser --port 0``; the URL (with the token) is stdout's first line."""

    def __init__(self, tmp: Path, *global_args: str, env: dict[str, str] | None = None,
                 ui_args: tuple[str, ...] = ("--no-browser",)) -> None:
        self.err_path = tmp / f"ui-{uuid.uuid4().hex[:8]}.err"
        self.err_file = self.err_path.open("wb")
        argv = [sys.executable, "-m", "kvcli", *global_args, "ui", "--port", "0", *ui_args]
        self.proc = subprocess.Popen(argv, env=subprocess_env(env), stdout=subprocess.PIPE, stderr=self.err_file)
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline().decode() if ready else ""
        if not line.startswith("http://"):
            self.stop()
            raise RuntimeError(f"kvcli ui did not start: {line!r} {self.stderr()[-2000:]}")
        self.url = line.strip()  # http://127.0.0.1:PORT/?token=...
        self.base = self.url.split("/?", 1)[0]
        self.token = self.url.split("token=", 1)[1]

    def stderr(self) -> str:
        self.err_file.flush()
        return self.err_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.err_file.close()


def chromium_path() -> str | None:
    given = os.environ.get("KVCLI_CHROMIUM")
    if given:
        return given if os.access(given, os.X_OK) else None
    for name in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if os.access(name, os.X_OK):
            return name
    return shutil.which("chromium")


def _missing(what: str) -> None:
    if os.environ.get("KVCLI_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{what} is missing and KVCLI_REQUIRE_BROWSER=1")
    pytest.skip(f"{what}: the explorer's browser tests need Debian's chromium (apt-get install chromium) and "
                "Playwright for Python (pip install -e '.[test]')")


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright for Python is not installed")
    path = chromium_path()
    if path is None:
        _missing("no Chromium found (/usr/bin/chromium, or KVCLI_CHROMIUM)")
    from playwright.sync_api import expect

    expect.set_options(timeout=20_000)  # a busy CI machine: expect() polls, so a generous limit costs nothing
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def new_page(browser):
    """A page in a fresh browser context (no cookies) at 1280×800 that can reach 127.0.0.1 only; page errors fail."""
    contexts = []
    errors: list[str] = []

    def make(width: int = 1280, height: int = 800):
        context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
        contexts.append(context)

        def only_loopback(route):
            url = route.request.url
            if url.startswith(("http://127.0.0.1:", "blob:", "data:", "file://")):
                route.continue_()
            else:
                errors.append(f"blocked a request to {url}")
                route.abort()

        context.route("**/*", only_loopback)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
        page.on("dialog", lambda d: (errors.append(f"unexpected JS dialog: {d.message}"), d.dismiss()))
        page.set_default_timeout(15_000)
        return page

    yield make
    for context in contexts:
        context.close()
    assert not errors, errors


def shot(page, name: str) -> None:
    """Save a screenshot as docs/ui/NAME.png when KVCLI_UI_SCREENSHOTS names the folder."""
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        # the test's temporary data directory would put this machine's paths into the docs: shown shortened
        page.evaluate("""() => { const b = document.getElementById('backend');
            b.textContent = b.textContent.replace(/ at \\S+/, ' at ~/.local/share/kvcli'); }""")
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"))
