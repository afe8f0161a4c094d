"""The config file under concurrency, kill -9, a loose umask, a shared directory and a symlink (issue 12, 6 and 18)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kvcli import config as cfgmod
from kvcli import config_file
from tests.conftest import subprocess_env

TOKEN = "tok-very-secret-123456"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _kvcli(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "kvcli", *args],
        env=subprocess_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kwargs,
    )


@pytest.fixture
def cfg_dir(isolated) -> Path:
    return isolated["config"]


# ------------------------------------------------------------------------------------------- item 6: locking
def test_concurrent_profile_creates_keep_every_profile(cfg_dir):
    procs = [_kvcli("profile", "create", f"p{i:02d}", "--token", f"{TOKEN}{i}") for i in range(16)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert all(code == 0 for code, _ in results), results
    cfg = cfgmod.load(cfg_dir / "config.toml")
    assert sorted(cfg.profiles) == [f"p{i:02d}" for i in range(16)]
    assert all(cfg.profiles[f"p{i:02d}"].token == f"{TOKEN}{i}" for i in range(16))
    assert sorted(p.name for p in cfg_dir.iterdir()) == ["config.toml"]  # no temp or lock file left


CHILD = textwrap.dedent(
    """
    import os, sys, time
    from kvcli import config as cfgmod

    real_fsync = os.fsync

    def fsync_then_hang(fd):
        real_fsync(fd)
        os.write(1, b"written\\n")  # the temp file with the token is on disk, the rename has not happened
        time.sleep(3600)

    os.fsync = fsync_then_hang
    with cfgmod.editing() as cfg:
        cfg.profiles["dying"] = cfgmod.Profile(name="dying", token=sys.argv[1])
        cfgmod.save(cfg)
    """
)


def test_kill_9_mid_write_leaves_no_token_file_after_the_next_write_and_no_stale_lock(cfg_dir):
    assert _kvcli("profile", "create", "first", "--token", TOKEN).wait(timeout=60) == 0
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, "dying-token-abcdef"],
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert child.stdout.readline() == b"written\n", child.stderr.read()
        temps = [p for p in cfg_dir.iterdir() if p.name.endswith(".tmp")]
        assert len(temps) == 1 and b"dying-token-abcdef" in temps[0].read_bytes()  # the danger is real
        child.send_signal(signal.SIGKILL)  # dies holding the config lock, with the temp file in place
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        child.stderr.close()
    proc = _kvcli("profile", "create", "second", "--token", TOKEN)
    assert proc.wait(timeout=60) == 0, proc.stderr.read()  # the dead process's lock does not block anyone
    proc.stdout.close()
    proc.stderr.close()
    assert sorted(p.name for p in cfg_dir.iterdir()) == ["config.toml"]  # the stale temp file is gone
    assert sorted(cfgmod.load(cfg_dir / "config.toml").profiles) == ["first", "second"]


# --------------------------------------------------------------------------- item 18: modes, warning, symlink
def test_missing_parents_are_created_0700_under_umask_000(tmp_path):
    top = tmp_path / "a"
    path = top / "b" / "c" / "config.toml"
    old = os.umask(0)
    try:
        cfgmod.save(cfgmod.Config(path=path, profiles={"w": cfgmod.Profile(name="w", token=TOKEN)}))
    finally:
        os.umask(old)
    assert [_mode(d) for d in (top, top / "b", top / "b" / "c")] == [0o700, 0o700, 0o700]
    assert _mode(path) == 0o600


def test_profile_create_under_umask_000_creates_private_parents(tmp_path):
    cfg = tmp_path / "home" / ".config" / "kvcli"
    proc = _kvcli(
        "profile", "create", "w", "--token", TOKEN, env={"KVCLI_CONFIG_DIR": str(cfg)}, preexec_fn=lambda: os.umask(0)
    )
    assert proc.wait(timeout=60) == 0, proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    assert [_mode(d) for d in (tmp_path / "home", cfg.parent, cfg)] == [0o700, 0o700, 0o700]


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o1777], ids=["0777", "0770", "1777"])
def test_a_group_or_world_writable_config_dir_is_warned_about_once(cli, cfg_dir, mode):
    assert cli("profile", "create", "w", "--token", TOKEN).exit_code == 0
    cfg_dir.chmod(mode)
    config_file._warned_dirs.clear()
    res = cli("profile", "create", "x", "--token", TOKEN)  # reads and writes the config: one warning
    assert res.exit_code == 0, res
    warnings = [ln for ln in res.stderr.splitlines() if ln.startswith("Warning:")]
    assert len(warnings) == 1, res
    assert str(cfg_dir) in warnings[0] and f"{mode:04o}" in warnings[0] and "chmod 700" in warnings[0]


def test_a_private_config_dir_gets_no_warning(cli, cfg_dir):
    assert cli("profile", "create", "w", "--token", TOKEN).exit_code == 0
    config_file._warned_dirs.clear()
    res = cli("profile", "list")
    assert "Warning" not in res.stderr


def test_a_symlinked_config_is_written_through_to_its_target(cli, cfg_dir, tmp_path):
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir(mode=0o700)
    real = dotfiles / "kvcli.toml"
    real.write_text('[profiles.old]\ntype = "local"\n')
    real.chmod(0o600)
    cfg_dir.mkdir(mode=0o700)
    (cfg_dir / "config.toml").symlink_to(real)
    res = cli("profile", "create", "w", "--token", TOKEN)
    assert res.exit_code == 0, res
    link = cfg_dir / "config.toml"
    assert link.is_symlink() and Path(os.readlink(link)) == real  # the link is kept
    assert sorted(cfgmod.load(real).profiles) == ["old", "w"]  # the target got the change
    assert _mode(real) == 0o600
    assert sorted(p.name for p in dotfiles.iterdir()) == ["kvcli.toml"]  # atomic: no temp file left
    assert sorted(p.name for p in cfg_dir.iterdir()) == ["config.toml"]
