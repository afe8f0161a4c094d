"""Shell completion: the checked-in scripts are what the app generates, and dynamic values are quick and silent."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from kvcli.cli import complete
from tests.conftest import Result, subprocess_env

ROOT = Path(__file__).resolve().parents[2]


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def completion(words: str, shell: str = "bash", env: dict[str, str] | None = None) -> Result:
    """Ask kvcli for completions of ``words`` (the command line up to the cursor) the way ``shell`` does."""
    from kvcli.cli.main import run

    variables = {"_KVCLI_COMPLETE": f"complete_{shell}"}
    if shell == "bash":
        parts = words.split(" ")
        variables.update(COMP_WORDS=words, COMP_CWORD=str(len(parts) - 1))
    else:
        variables["_TYPER_COMPLETE_ARGS"] = words
        if shell == "fish":
            variables["_TYPER_COMPLETE_FISH_ACTION"] = "get-args"
    variables.update(env or {})
    runner = CliRunner()
    with runner.isolation(env=variables) as (out, err, _):
        try:
            code = run([])
        except SystemExit as exc:
            code = exc.code
        sys.stdout.flush()
        sys.stderr.flush()
        return Result(code or 0, out.getvalue(), err.getvalue())


def values(res: Result) -> list[str]:
    assert res.exit_code == 0 and res.stderr == "", res
    return res.stdout.split()


@pytest.fixture
def stores(cli):
    ids = {}
    for name in ("alpha", "alpine", "beta"):
        res = cli("-q", "kv-store", "create", "--name", name, "--json")
        assert res.exit_code == 0, res
        ids[name] = res.json()["StoreID"]
    return ids


# ------------------------------------------------------------------------------------------------ static scripts
def test_checked_in_scripts_are_what_the_app_generates():
    gen = load_script("gen_completions")
    assert gen.main(["--check"]) == 0, "completions/ is stale: run python scripts/gen_completions.py"
    for shell, name in gen.FILES.items():
        text = (ROOT / "completions" / name).read_text()
        assert "_KVCLI_COMPLETE=complete_" + shell in text


def test_the_check_notices_a_stale_file(tmp_path, monkeypatch, capsys):
    gen = load_script("gen_completions")
    for name in gen.FILES.values():
        shutil.copy(ROOT / "completions" / name, tmp_path / name)
    (tmp_path / "kvcli.fish").write_text("# edited by hand\n")
    monkeypatch.setattr(gen, "OUT", tmp_path)
    monkeypatch.setattr(gen, "ROOT", tmp_path.parent)
    assert gen.main(["--check"]) == 1
    assert "kvcli.fish" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_install_completion_still_works(tmp_path):
    """`kvcli --install-completion` run from bash (typer detects the shell from the parent process)."""
    home = tmp_path / "home"
    home.mkdir()
    env = subprocess_env({"HOME": str(home)})
    proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", f"{sys.executable} -m kvcli --install-completion; "
                           "echo rc=$?"], env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.stdout.strip().endswith("rc=0"), proc
    installed = (home / ".bash_completions" / "kvcli.sh").read_text()
    checked_in = (ROOT / "completions" / "kvcli.bash").read_text()
    assert installed.strip() and installed.strip() in checked_in
    assert "kvcli.sh" in (home / ".bashrc").read_text()


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_the_bash_script_completes_in_bash(stores, tmp_path):
    """Source the checked-in script in a real bash and press Tab (call the completion function)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "kvcli"
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -m kvcli \"$@\"\n")
    shim.chmod(0o755)
    script = (
        f"source {ROOT / 'completions' / 'kvcli.bash'}\n"
        "COMP_WORDS=(kvcli kv-store-entry get --store-name al); COMP_CWORD=4\n"
        "_kvcli_completion kvcli; printf '%s\\n' \"${COMPREPLY[@]}\"\n"
    )
    env = subprocess_env({"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"})
    proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], env=env, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc
    assert proc.stdout.split() == ["alpha", "alpine"]
    assert proc.stderr == ""


# -------------------------------------------------------------------------------------------- commands and flags
def test_commands_and_flags_complete():
    assert values(completion("kvcli kv-st")) == ["kv-store", "kv-store-entry"]
    assert "--store-id" in values(completion("kvcli kv-store-entry get --st"))


# ------------------------------------------------------------------------------------------------- dynamic values
def test_store_ids_and_names(stores):
    assert sorted(values(completion("kvcli kv-store-entry get --store-id "))) == sorted(stores.values())
    assert values(completion("kvcli kv-store-entry get -s " + stores["beta"][:5])) == [stores["beta"]]
    assert values(completion("kvcli kv-store-entry list --store-name al")) == ["alpha", "alpine"]
    assert values(completion("kvcli kv-store describe --store-name b")) == ["beta"]
    assert sorted(values(completion("kvcli resource-link create --resource-id "))) == sorted(stores.values())


def test_zsh_and_fish_show_the_store_name_next_to_the_id(stores):
    zsh = completion("kvcli kv-store-entry get --store-id ", shell="zsh")
    assert zsh.stderr == "" and f'"{stores["alpha"]}":"alpha"' in zsh.stdout
    fish = completion("kvcli kv-store-entry get --store-id ", shell="fish")
    assert fish.stderr == "" and f"{stores['alpine']}\talpine" in fish.stdout


def test_service_ids_and_names(cli):
    res = cli("-q", "service", "create", "--name", "my-app", "--json")
    assert res.exit_code == 0, res
    sid = res.json()["id"]
    assert values(completion("kvcli service describe --service-id ")) == [sid]
    assert values(completion("kvcli resource-link list --version latest --service-id ")) == [sid]
    assert values(completion("kvcli service version list --service-name my")) == ["my-app"]


def test_profile_names(cli):
    for name, flags in (("work", ["--token", "secret-token"]), ("dev", ["--local"]), ("demo", ["--local"])):
        assert cli("profile", "create", name, *flags).exit_code == 0
    assert values(completion("kvcli profile switch ")) == ["demo", "dev", "work"]
    assert values(completion("kvcli profile delete d")) == ["demo", "dev"]
    assert values(completion("kvcli profile token w")) == ["work"]
    assert values(completion("kvcli --profile ")) == ["demo", "dev", "work"]
    assert values(completion("kvcli -o w")) == ["work"]
    zsh = completion("kvcli profile switch w", shell="zsh")
    assert '"work":"fastly"' in zsh.stdout and "secret-token" not in zsh.stdout


def test_the_backend_is_the_one_the_command_line_selects(cli, stores, tmp_path):
    other = tmp_path / "other"
    assert cli("profile", "create", "elsewhere", "--local", "--data-dir", str(other)).exit_code == 0
    assert cli("-q", "-o", "elsewhere", "kv-store", "create", "--name", "gamma").exit_code == 0
    assert values(completion("kvcli -o elsewhere kv-store-entry list --store-name ")) == ["gamma"]
    assert values(completion("kvcli kv-store-entry list --store-name ")) == ["gamma"]  # the first profile is default
    assert values(completion("kvcli --local kv-store-entry list --store-name ")) == ["alpha", "alpine", "beta"]
    unreachable = {"FASTLY_API_ENDPOINT": "http://127.0.0.1:9", "FASTLY_API_TOKEN": "t"}
    assert values(completion("kvcli --local kv-store-entry list --store-name al", env=unreachable)) == [
        "alpha", "alpine"
    ]  # fmt: skip


# ------------------------------------------------------------------------------------------------ quiet failures
def test_no_database_gives_nothing_and_creates_nothing(isolated):
    assert values(completion("kvcli kv-store-entry get --store-id ")) == []
    assert values(completion("kvcli kv-store-entry get --store-name ")) == []
    assert not isolated["data"].exists()


def test_a_broken_config_gives_nothing_on_either_stream(isolated):
    isolated["config"].mkdir(parents=True)
    (isolated["config"] / "config.toml").write_text("default_profile = [\n")
    for words in ("kvcli kv-store-entry get --store-id ", "kvcli profile switch ", "kvcli --profile "):
        assert values(completion(words)) == []


def test_an_unreachable_backend_gives_nothing(stores):
    env = {"FASTLY_API_ENDPOINT": "http://127.0.0.1:9", "FASTLY_API_TOKEN": "t", "KVCLI_HTTP_BACKOFF_BASE": "0"}
    assert values(completion("kvcli kv-store-entry get --store-id ", env=env)) == []
    assert values(completion("kvcli service describe --service-id ", env=env)) == []


def test_a_failing_backend_gives_nothing(stores, monkeypatch):
    import kvcli.api.port

    def boom(api):
        print("noise on stderr", file=sys.stderr)
        raise RuntimeError("backend exploded")

    monkeypatch.setattr(kvcli.api.port, "iter_stores", boom)
    for shell in ("bash", "zsh", "fish"):
        res = completion("kvcli kv-store-entry get --store-id ", shell=shell)
        assert res.exit_code == 0 and res.stderr == "", res
        assert all(sid not in res.stdout for sid in stores.values())


def test_a_server_that_never_answers_is_abandoned_after_the_time_box(stores, monkeypatch):
    monkeypatch.setattr(complete, "TIMEOUT", 0.3)
    with socket.socket() as silent:  # accepts connections (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        t0 = time.monotonic()
        res = completion("kvcli kv-store-entry get --store-id ", env={"FASTLY_API_ENDPOINT": url,
                                                                       "FASTLY_API_TOKEN": "t"})  # fmt: skip
        elapsed = time.monotonic() - t0
    assert values(res) == []
    assert elapsed < 3, elapsed


def test_completers_called_directly_filter_and_describe(stores):
    class Ctx:  # the only thing a completer reads from click's context: the root's parsed global flags
        params = {"local": True, "token": None, "endpoint": None, "profile": None}

        def find_root(self):
            return self

    assert complete.store_names(Ctx(), "alp") == ["alpha", "alpine"]
    assert sorted(complete.store_ids(Ctx(), "")) == sorted((sid, name) for name, sid in stores.items())
    assert complete.service_ids(Ctx(), "") == []
    assert complete.profile_names("") == []


def test_only_the_root_offers_install_completion(cli):
    assert "--install-completion" in cli("--help").stdout
    for group in ("kv-store", "kv-store-entry", "profile", "service", "resource-link", "local"):
        res = cli(group, "--help")
        assert res.exit_code == 0 and "--install-completion" not in res.stdout, group


# ------------------------------------------------------------------------------------------------------ keys
@pytest.fixture
def keyed(cli, stores):
    for key in ("user/1", "user/2", "users", "zeta"):
        assert cli("-q", "kv-store-entry", "create", "-s", stores["alpha"], "-k", key, "--value", "v").exit_code == 0
    return stores


def test_keys_complete_from_the_selected_store(keyed):
    assert values(completion("kvcli kv-store-entry get --store-name alpha -k ")) == ["user/1", "user/2", "users",
                                                                                      "zeta"]  # fmt: skip
    assert values(completion("kvcli kv-store-entry get --store-name alpha -k user/")) == ["user/1", "user/2"]
    sid = keyed["alpha"]
    assert values(completion(f"kvcli kv-store-entry describe -s {sid} --key us")) == ["user/1", "user/2", "users"]
    assert values(completion(f"kvcli kv-store-entry delete -s {sid} -k z")) == ["zeta"]


def test_keys_need_a_store_and_fail_silently(keyed):
    assert values(completion("kvcli kv-store-entry get -k ")) == []  # no store typed yet
    assert values(completion("kvcli kv-store-entry get --store-name nosuch -k ")) == []


def test_the_typed_prefix_narrows_the_list_request(keyed, monkeypatch):
    from kvcli.local.engine import Engine

    asked = []
    real = Engine.list_keys

    def spy(self, store_id, prefix=None, *args, **kwargs):
        asked.append(prefix)
        return real(self, store_id, prefix, *args, **kwargs)

    monkeypatch.setattr(Engine, "list_keys", spy)
    assert values(completion("kvcli kv-store-entry get --store-name alpha -k user/")) == ["user/1", "user/2"]
    assert asked and set(asked) == {"user/"}


def test_keys_are_time_boxed(keyed, monkeypatch):
    """A backend that does not answer within the time box gives no suggestions, quickly and silently."""
    from kvcli.local.engine import Engine

    release = threading.Event()
    monkeypatch.setattr(complete, "TIMEOUT", 0.2)
    monkeypatch.setattr(Engine, "list_keys", lambda self, *a, **k: release.wait(30) and None)
    try:
        assert values(completion("kvcli kv-store-entry get --store-name alpha -k ")) == []
    finally:
        release.set()
