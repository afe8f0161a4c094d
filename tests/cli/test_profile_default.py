"""Which profile is the default: only the only profile becomes it implicitly, and a hint that works for tokens."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvcli import config as cfgmod


@pytest.fixture
def cfg_path(isolated) -> Path:
    return isolated["config"] / "config.toml"


def ok(res):
    assert res.exit_code == 0, res
    return res


def test_the_only_profile_becomes_the_default(cli, cfg_path):
    res = ok(cli("profile", "create", "work", "--token", "t"))
    assert "as default" in res.stderr
    assert cfgmod.load(cfg_path).default_profile == "work"


def test_after_the_default_is_deleted_a_new_profile_does_not_silently_take_over(cli, cfg_path):
    ok(cli("profile", "create", "work", "--token", "t"))
    ok(cli("profile", "create", "dev", "--local"))
    ok(cli("profile", "delete", "work"))
    res = ok(cli("profile", "create", "staging", "--token", "t2", "--endpoint", "http://127.0.0.1:7676"))
    assert cfgmod.load(cfg_path).default_profile is None  # plain commands still go where they went
    assert "as default" not in res.stderr
    assert "kvcli profile switch staging" in res.stderr, res


def test_a_new_profile_next_to_a_default_says_how_to_make_it_the_default(cli, cfg_path):
    ok(cli("profile", "create", "work", "--token", "t"))
    res = ok(cli("profile", "create", "dev", "--local"))
    assert cfgmod.load(cfg_path).default_profile == "work"
    assert "kvcli profile switch dev" in res.stderr, res
    assert "kvcli profile switch" not in ok(cli("-q", "profile", "create", "dev2", "--local")).stderr


def test_default_flag_still_makes_it_the_default(cli, cfg_path):
    ok(cli("profile", "create", "work", "--token", "t"))
    ok(cli("profile", "delete", "work"))
    ok(cli("profile", "create", "dev", "--local"))
    res = ok(cli("profile", "create", "prod", "--token", "t", "--default"))
    assert cfgmod.load(cfg_path).default_profile == "prod" and "as default" in res.stderr


def test_token_of_a_local_profile_gives_a_hint_that_works(cli):
    ok(cli("profile", "create", "dev", "--local"))
    res = cli("profile", "token", "dev")
    assert res.exit_code == 2 and res.stdout == "", res
    assert "local profile" in res.stderr and "update dev --token" not in res.stderr, res
    hint = res.stderr.split("(hint: ", 1)[1]
    assert "kvcli profile token NAME" in hint or "--token-stdin" in hint


def test_token_of_a_fastly_profile_without_one_hints_a_command_that_is_accepted(cli, cfg_path):
    ok(cli("-i", "profile", "create", "work"))  # no token, no prompt
    res = cli("profile", "token", "work")
    assert res.exit_code == 1 and "has no token" in res.stderr, res
    import re

    suggested = re.search(r"'kvcli ([^']*)'", res.stderr).group(1).split()  # profile update work --token-stdin
    follow = cli(*suggested, input="tok\n")
    assert follow.exit_code == 0, (suggested, follow)
    assert cfgmod.load(cfg_path).profiles["work"].token == "tok"
