"""Starting the explorer: bind 127.0.0.1, print the URL with its token, open the browser through a redirect file."""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kvcli.library import KV

HOST = "127.0.0.1"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def has_display(env: dict[str, str] | os._Environ[str] = os.environ, platform: str = sys.platform) -> bool:
    """Whether a browser can be shown: always on macOS and Windows; elsewhere only with an X or Wayland display."""
    if platform in ("darwin", "win32"):
        return True
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def write_redirect_file(url: str, directory: str | None = None) -> Path:
    """A private HTML file that sends the browser to ``url`` (as Jupyter does): the browser is started with the
    file's path, so the token is not on its command line for other processes to read."""
    fd, name = tempfile.mkstemp(prefix="kvcli-ui-", suffix=".html", dir=directory)
    shown = escape(url, quote=True)
    page = (
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
        f"<meta http-equiv=\"refresh\" content=\"0;url={shown}\"><title>kvcli ui</title></head>"
        f"<body><p><a href=\"{shown}\">Open the kvcli explorer</a></p></body></html>\n"
    )
    with os.fdopen(fd, "w", encoding="utf-8") as fh:  # mkstemp: mode 0600
        fh.write(page)
    return Path(name)


def open_browser(url: str, opener: Callable[[str], object] | None = None) -> Path:
    """Open ``url`` through a redirect file; the file's path (to delete once the server stops)."""
    path = write_redirect_file(url)
    if opener is None:
        import webbrowser

        opener = webbrowser.open
    opener(path.as_uri())
    return path


def serve(kv: KV, *, port: int, description: str, browser: bool, say: Callable[[str], None]) -> None:
    """Serve the explorer for ``kv`` on 127.0.0.1:``port`` until Ctrl-C or SIGTERM (then return normally)."""
    from kvcli.local import serve as runner
    from kvcli.ui.explorer import Explorer
    from kvcli.ui.server import create_app

    token = new_token()
    limits = runner.Limits.from_env()
    sock = runner.bind(HOST, port)
    redirect: Path | None = None
    try:
        url = runner.url_for(HOST, sock.getsockname()[1])
        explorer = Explorer(kv, token, description=description,
                            display_limit=_env_int("KVCLI_UI_DISPLAY_LIMIT", None),
                            page_size=_env_int("KVCLI_UI_PAGE_SIZE", None))
        app = create_app(explorer)
        full = f"{url}/?token={token}"
        sys.stdout.write(full + "\n")
        sys.stdout.flush()
        say(f"kvcli ui: exploring {description}")
        say(f"  Open {full} in a browser (only this URL's token opens it).")
        if browser and has_display():
            try:
                redirect = open_browser(full)
            except Exception as exc:  # noqa: BLE001 - no browser is not an error: the URL is printed
                say(f"  Could not open a browser ({type(exc).__name__}: {exc}); open the URL above.")
        elif browser:
            say("  No display found: open the URL above in a browser.")
        say("  Stop with Ctrl-C.")
        runner.run(app, sock, limits=limits)
    finally:
        sock.close()
        if redirect is not None:
            try:
                redirect.unlink()
            except OSError:
                pass


def _env_int(name: str, default: int | None) -> int:
    from kvcli.api.errors import UsageError
    from kvcli.ui import explorer

    fallback = {"KVCLI_UI_DISPLAY_LIMIT": explorer.DISPLAY_LIMIT, "KVCLI_UI_PAGE_SIZE": explorer.PAGE_SIZE}[name]
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default if default is not None else fallback
    if not raw.isdigit() or int(raw) < 1 or (name == "KVCLI_UI_PAGE_SIZE" and int(raw) > 1000):
        raise UsageError(f"invalid {name}={raw!r}", "set it to a positive whole number; the page size at most 1000")
    return int(raw)
