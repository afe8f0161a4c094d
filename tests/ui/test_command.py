"""`kvcli ui` as a command: the browser is opened through a redirect file (the token never on a command line),
not at all without a display, Ctrl-C stops it cleanly, and nothing else in kvcli imports the explorer."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap

import httpx

from tests.conftest import subprocess_env
from tests.ui.conftest import UiServe


def _recorder(tmp_path):
    """A stand-in browser (``BROWSER``) that records the argument it got and the file that argument names."""
    out = tmp_path / "opened.txt"
    script = tmp_path / "fake-browser.py"
    script.write_text(textwrap.dedent(f"""
        import os, stat, sys
        from urllib.parse import urlparse, unquote
        arg = sys.argv[1]
        path = unquote(urlparse(arg).path)
        mode = oct(stat.S_IMODE(os.stat(path).st_mode))
        with open({str(out)!r}, "w") as fh:
            fh.write(arg + "\\n" + mode + "\\n" + open(path).read())
    """))
    return out, f"{sys.executable} {script} %s"


def test_the_browser_opens_a_private_redirect_file_not_the_token_url(tmp_path):
    out, browser = _recorder(tmp_path)
    ui = UiServe(tmp_path, "--local", env={"BROWSER": browser, "DISPLAY": ":99"}, ui_args=())
    try:
        assert httpx.get(ui.url).status_code == 200  # the server answers once the browser was started
        arg, mode, page = out.read_text().split("\n", 2)
        assert arg.startswith("file://") and ui.token not in arg
        assert mode == "0o600"
        assert f'content="0;url={ui.url}"' in page and f'href="{ui.url}"' in page
        redirect = arg[len("file://"):]
        assert os.path.exists(redirect)
    finally:
        ui.stop()
    assert not os.path.exists(redirect)  # removed when the server stops


def test_no_browser_without_a_display_or_with_no_browser(tmp_path):
    out, browser = _recorder(tmp_path)
    env = {"BROWSER": browser, "DISPLAY": "", "WAYLAND_DISPLAY": ""}
    for args in ((), ("--no-browser",)):
        ui = UiServe(tmp_path, "--local", env=env if not args else {**env, "DISPLAY": ":99"}, ui_args=args)
        try:
            assert httpx.get(ui.url).status_code == 200
            if not args:
                assert "No display found: open the URL above" in ui.stderr()
        finally:
            ui.stop()
    assert not out.exists()


def test_ctrl_c_stops_it_cleanly(tmp_path):
    ui = UiServe(tmp_path, "--local")
    try:
        assert httpx.get(ui.url).status_code == 200
        ui.proc.send_signal(signal.SIGINT)
        assert ui.proc.wait(timeout=30) == 0
        err = ui.stderr()
        assert err.rstrip().endswith("Stopped.") and "Traceback" not in err
    finally:
        ui.stop()


def test_a_busy_port_is_a_one_line_error(tmp_path):
    ui = UiServe(tmp_path, "--local")
    try:
        port = ui.base.rsplit(":", 1)[1]
        busy = subprocess.run([sys.executable, "-m", "kvcli", "--local", "ui", "--no-browser", "--port", port],
                              env=subprocess_env(), capture_output=True, text=True, timeout=60)
        assert busy.returncode != 0 and busy.stdout == ""
        assert busy.stderr.startswith(f"Error: cannot listen on http://127.0.0.1:{port}") and "(hint: " in busy.stderr
        assert len(busy.stderr.strip().splitlines()) == 1
    finally:
        ui.stop()


def test_importing_kvcli_or_running_other_commands_does_not_import_the_explorer(tmp_path):
    code = ("import sys, kvcli; kv = kvcli.connect(data_dir=sys.argv[1]); kv.create_store('s'); kv.close(); "
            "from kvcli.cli.main import run; run(['--local', 'kv-store', 'list']); "
            "assert not [m for m in sys.modules if m.startswith('kvcli.ui') or m == 'kvcli.cli.ui_cmd'], 'imported'")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "d")], env=subprocess_env(),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_the_static_files_ship_as_package_data():
    from importlib import resources

    folder = resources.files("kvcli.ui") / "static"
    assert {p.name for p in folder.iterdir()} >= {"index.html", "app.js", "app.css"}
    assert stat.S_ISREG(os.stat(str(folder / "app.js")).st_mode)


def test_a_bad_setting_is_a_one_line_error_before_the_url(tmp_path):
    bad = subprocess.run([sys.executable, "-m", "kvcli", "--local", "ui", "--no-browser"],
                         env=subprocess_env({"KVCLI_UI_PAGE_SIZE": "5000"}), capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode != 0 and bad.stdout == ""
    assert bad.stderr.startswith("Error: invalid KVCLI_UI_PAGE_SIZE='5000' (hint: ")
    assert len(bad.stderr.strip().splitlines()) == 1
