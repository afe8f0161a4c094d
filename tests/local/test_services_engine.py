"""Engine-level behaviour of services, versions and resource links (things the contract suite cannot reach)."""

from __future__ import annotations

import re
import sqlite3

import pytest

from kvcli.api.errors import Conflict, InvalidInput, NotFound, VersionLocked
from kvcli.cli.exits import exit_code_for
from kvcli.local.engine import MIGRATIONS, Engine

ID_RE = re.compile(r"^[0-9A-Za-z]{22}$")


class Clock:
    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def eng(tmp_path, clock):
    e = Engine.in_dir(tmp_path / "eng", clock=clock)
    yield e
    e.close()


def test_ids_are_22_char_base62_and_mixed_case(eng):
    ids = [eng.create_service(f"svc-{i}").id for i in range(20)]
    assert all(ID_RE.match(i) for i in ids)
    joined = "".join(ids)
    assert re.search(r"[a-z]", joined) and re.search(r"[A-Z]", joined)
    assert len(set(ids)) == len(ids)


def test_new_service_has_editable_version_1_with_timestamps(eng, clock):
    svc = eng.create_service("web", "vcl", comment="hello")
    assert svc.type == "vcl" and svc.comment == "hello"
    assert [v.number for v in svc.versions] == [1]
    v1 = svc.versions[0]
    assert v1.editable and not v1.active and not v1.locked
    assert svc.created_at.timestamp() == clock.t == v1.created_at.timestamp()


def test_timestamps_move_with_the_clock(eng, clock):
    svc = eng.create_service("web")
    store = eng.create_store("s")
    clock.t += 100
    link = eng.create_link(svc.id, 1, store.id)
    clock.t += 50
    renamed = eng.update_link(svc.id, 1, link.id, name="other")
    assert renamed.created_at == link.created_at
    assert renamed.updated_at.timestamp() == link.created_at.timestamp() + 50
    assert eng.get_service(svc.id).updated_at.timestamp() == clock.t


def test_schema_migration_is_appended_and_recorded(eng):
    assert eng.schema_version() == len(MIGRATIONS) >= 2
    tables = {r[0] for r in eng.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"services", "service_versions", "resource_links", "stores", "items"} <= tables


def test_existing_v1_database_is_upgraded_in_place(tmp_path):
    """A database created by a kvcli that only knew the first migration keeps its stores and gains services."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.executescript(MIGRATIONS[0])
    conn.execute("INSERT INTO stores VALUES ('s1', 'old-store', NULL, 1, 1)")
    conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    conn.commit()
    conn.close()
    e = Engine(path)
    try:
        assert e.schema_version() == len(MIGRATIONS)
        assert e.get_store("s1").name == "old-store"
        svc = e.create_service("after-upgrade")
        assert e.create_link(svc.id, 1, "s1").name == "old-store"
    finally:
        e.close()


def test_service_name_rules(eng):
    eng.create_service("dup")
    with pytest.raises(Conflict) as exc:
        eng.create_service("dup")
    assert exc.value.title == "Duplicate record"
    with pytest.raises(InvalidInput):
        eng.create_service("")
    with pytest.raises(InvalidInput):
        eng.create_service("bad\nname")
    with pytest.raises(InvalidInput) as exc:
        eng.create_service("x", "compute")
    assert "wasm" in exc.value.hint


def test_activation_locks_and_replaces_the_previous_active_version(eng):
    sid = eng.create_service("web").id
    eng.clone_version(sid, 1)
    v1 = eng.activate_version(sid, 1)
    assert v1.active and v1.locked
    v2 = eng.activate_version(sid, 2)
    assert v2.active and v2.locked
    old = eng.get_version(sid, 1)
    assert not old.active and old.locked
    assert eng.active_version(sid).number == 2
    assert [v.number for v in eng.list_versions(sid) if v.active] == [2]


def test_activate_twice_is_idempotent_and_deactivate_needs_an_active_version(eng):
    sid = eng.create_service("web").id
    eng.activate_version(sid, 1)
    assert eng.activate_version(sid, 1).active
    v = eng.deactivate_version(sid, 1)
    assert not v.active and v.locked
    assert eng.active_version(sid) is None
    with pytest.raises(Conflict, match="not active"):
        eng.deactivate_version(sid, 1)


def test_staged_version_is_none_locally(eng):
    sid = eng.create_service("web").id
    assert eng.staged_version(sid) is None


def test_link_name_defaults_to_store_name_and_duplicates_conflict(eng):
    sid = eng.create_service("web").id
    a = eng.create_store("alpha")
    b = eng.create_store("beta")
    link = eng.create_link(sid, 1, a.id)
    assert link.name == "alpha" and ID_RE.match(link.id)
    with pytest.raises(Conflict) as exc:
        eng.create_link(sid, 1, b.id, name="alpha")
    assert exc.value.status == 409 and exc.value.title == "Duplicate record"
    other = eng.create_link(sid, 1, b.id, name="beta")
    with pytest.raises(Conflict):
        eng.update_link(sid, 1, other.id, name="alpha")
    # renaming a link to its own name is fine
    assert eng.update_link(sid, 1, other.id, name="beta").name == "beta"


def test_same_name_is_allowed_in_another_version(eng):
    sid = eng.create_service("web").id
    a = eng.create_store("alpha")
    eng.create_version(sid)
    eng.create_link(sid, 1, a.id)
    assert eng.create_link(sid, 2, a.id).name == "alpha"


def test_update_can_repoint_the_link_to_another_existing_store(eng):
    sid = eng.create_service("web").id
    a = eng.create_store("alpha")
    b = eng.create_store("beta")
    link = eng.create_link(sid, 1, a.id, name="cfg")
    assert eng.update_link(sid, 1, link.id, resource_id=b.id).resource_id == b.id
    with pytest.raises(NotFound):
        eng.update_link(sid, 1, link.id, resource_id="nope")


def test_version_locked_error_shape(eng):
    sid = eng.create_service("web").id
    store = eng.create_store("s")
    eng.lock_version(sid, 1)
    with pytest.raises(VersionLocked) as exc:
        eng.create_link(sid, 1, store.id)
    e = exc.value
    assert e.status == 422 and e.title == "Version locked"
    assert e.detail == f"Version '1' for service '{sid}' is locked"
    assert exit_code_for(e) == 4
    assert isinstance(e, InvalidInput)
    assert "clone" in e.hint and "--" not in e.hint  # the library names no flag; the CLI's words do
    from kvcli.cli.hints import worded

    assert "--autoclone" in (worded(e)[1] or "")


def test_lock_is_idempotent(eng):
    sid = eng.create_service("web").id
    assert eng.lock_version(sid, 1).locked
    assert eng.lock_version(sid, 1).locked


def test_store_linked_from_an_editable_version_cannot_be_deleted(eng):
    svc = eng.create_service("web")
    store = eng.create_store("s")
    link = eng.create_link(svc.id, 1, store.id, name="edge-name")
    with pytest.raises(Conflict) as exc:
        eng.delete_store(store.id)
    msg = exc.value.message
    assert svc.id in msg and "version 1" in msg and link.id in msg and "edge-name" in msg
    assert link.id in exc.value.hint and "--" not in exc.value.hint  # the library's words name no flag
    from kvcli.cli.hints import worded

    assert f"--id {link.id}" in (worded(exc.value)[1] or "")  # the CLI's name the command to run
    eng.get_store(store.id)  # still there
    eng.delete_link(svc.id, 1, link.id)
    eng.delete_store(store.id)
    with pytest.raises(NotFound):
        eng.get_store(store.id)


def test_store_linked_from_the_active_version_cannot_be_deleted(eng):
    svc = eng.create_service("web")
    store = eng.create_store("s")
    eng.create_link(svc.id, 1, store.id)
    eng.activate_version(svc.id, 1)
    with pytest.raises(Conflict, match=r"\(active\)") as exc:
        eng.delete_store(store.id)
    assert "clone" in exc.value.hint and "--" not in exc.value.hint
    from kvcli.cli.hints import worded

    assert "--autoclone" in (worded(exc.value)[1] or "")


def test_links_on_locked_inactive_versions_do_not_block_store_deletion(eng):
    """History does not pin a store: v1 (locked, no longer active) still has the link, v2 (active) does not."""
    svc = eng.create_service("web")
    store = eng.create_store("s")
    link = eng.create_link(svc.id, 1, store.id)
    eng.activate_version(svc.id, 1)
    eng.clone_version(svc.id, 1)
    eng.delete_link(svc.id, 2, link.id)
    eng.activate_version(svc.id, 2)
    eng.delete_store(store.id)
    # the historical link is still listed, but the version cannot be re-activated without its store
    assert [x.id for x in eng.list_links(svc.id, 1)] == [link.id]
    with pytest.raises(Conflict, match="no longer exists"):
        eng.activate_version(svc.id, 1)
    assert eng.active_version(svc.id).number == 2


def test_deleting_a_service_removes_its_links_and_frees_the_store(eng):
    svc = eng.create_service("web")
    store = eng.create_store("s")
    eng.create_link(svc.id, 1, store.id)
    eng.clone_version(svc.id, 1)
    eng.delete_service(svc.id)
    assert eng.conn.execute("SELECT count(*) FROM resource_links").fetchone()[0] == 0
    assert eng.conn.execute("SELECT count(*) FROM service_versions").fetchone()[0] == 0
    eng.delete_store(store.id)


def test_service_with_active_version_is_not_deleted(eng):
    sid = eng.create_service("web").id
    eng.activate_version(sid, 1)
    with pytest.raises(Conflict, match="active version"):
        eng.delete_service(sid)
    eng.deactivate_version(sid, 1)
    eng.delete_service(sid)
    with pytest.raises(NotFound):
        eng.get_service(sid)


def test_store_with_items_and_links_reports_items_first(eng):
    """The existing non-empty check runs before the link check; either way nothing is deleted."""
    sid = eng.create_service("web").id
    store = eng.create_store("s")
    eng.put_item(store.id, "k", b"v")
    eng.create_link(sid, 1, store.id)
    with pytest.raises(Conflict, match="not empty"):
        eng.delete_store(store.id)
    eng.delete_item(store.id, "k")
    with pytest.raises(Conflict, match="still linked"):
        eng.delete_store(store.id)


def test_two_engines_on_one_file_see_each_others_services(tmp_path):
    a = Engine.in_dir(tmp_path / "shared")
    b = Engine.in_dir(tmp_path / "shared")
    try:
        sid = a.create_service("web").id
        b.clone_version(sid, 1)
        assert [v.number for v in a.list_versions(sid)] == [1, 2]
    finally:
        a.close()
        b.close()
