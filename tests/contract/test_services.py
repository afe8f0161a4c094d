"""Services, versions and resource links at the port: the same behaviour on the local and the served HTTP adapter.

The served backend is shared by the whole session, so every test uses fresh, uniquely named services and stores.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime

import pytest

from kvcli.api.errors import Conflict, InvalidInput, NotFound, VersionLocked
from kvcli.api.versioning import editable_version, resolve_version
from kvcli.cli.exits import exit_code_for
from kvcli.cli.hints import worded

ID_RE = re.compile(r"^[0-9A-Za-z]{22}$")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def svc(api):
    return api.create_service(unique("svc"), "wasm")


# ----------------------------------------------------------------------------------------------- services
def test_create_service_shape(api):
    name = unique("svc")
    s = api.create_service(name, "vcl", comment="made by a test")
    assert ID_RE.match(s.id)
    assert s.name == name and s.type == "vcl" and s.comment == "made by a test"
    assert isinstance(s.created_at, datetime) and isinstance(s.updated_at, datetime)
    assert [v.number for v in s.versions] == [1]
    assert s.versions[0].editable and s.versions[0].service_id == s.id
    assert s.active_version is None and s.latest_version == 1


def test_get_find_list_service(api, svc):
    assert api.get_service(svc.id).name == svc.name
    assert api.find_service(svc.name).id == svc.id
    listed = {s.id: s for s in api.list_services()}
    assert svc.id in listed and listed[svc.id].name == svc.name
    assert [v.number for v in listed[svc.id].versions] == [1]


def test_unknown_service(api):
    with pytest.raises(NotFound):
        api.get_service("NoSuchService000000000")
    with pytest.raises(NotFound):
        api.find_service(unique("missing"))
    with pytest.raises(NotFound):
        api.list_versions("NoSuchService000000000")


def test_duplicate_service_name_is_a_conflict(api, svc):
    with pytest.raises(Conflict) as exc:
        api.create_service(svc.name)
    assert exc.value.status == 409


def test_invalid_service_input(api):
    with pytest.raises(InvalidInput):
        api.create_service("")
    with pytest.raises(InvalidInput):
        api.create_service(unique("svc"), "compute")


def test_delete_service(api, svc):
    api.activate_version(svc.id, 1)
    with pytest.raises(Conflict):
        api.delete_service(svc.id)
    api.deactivate_version(svc.id, 1)
    api.delete_service(svc.id)
    with pytest.raises(NotFound):
        api.get_service(svc.id)
    with pytest.raises(InvalidInput) as again:  # Fastly (2026): 400 "Service '…' is deleted"
        api.delete_service(svc.id)
    assert again.value.status == 400 and "is deleted" in again.value.detail
    with pytest.raises(NotFound):
        api.delete_service("NoSuchService000000000")


def test_update_service_name_and_comment(api, svc):
    new_name = unique("renamed")
    s = api.update_service(svc.id, name=new_name)
    assert s.id == svc.id and s.name == new_name and s.comment == svc.comment
    assert api.find_service(new_name).id == svc.id
    with pytest.raises(NotFound):
        api.find_service(svc.name)
    s = api.update_service(svc.id, comment="commented")
    assert s.name == new_name and s.comment == "commented"
    assert api.get_service(svc.id).comment == "commented"
    s = api.update_service(svc.id, comment="")
    assert s.comment == ""


def test_update_service_refusals(api, svc):
    other = api.create_service(unique("other"))
    with pytest.raises(Conflict):
        api.update_service(svc.id, name=other.name)
    with pytest.raises(NotFound):
        api.update_service("NoSuchService000000000", name=unique("x"))
    with pytest.raises(InvalidInput):
        api.update_service(svc.id, name="")
    with pytest.raises(InvalidInput):
        api.update_service(svc.id)  # nothing to change
    assert api.get_service(svc.id).name == svc.name


# ----------------------------------------------------------------------------------------------- versions
def test_version_lifecycle(api, svc, store):
    link = api.create_link(svc.id, 1, store.id, "cfg")
    v2 = api.clone_version(svc.id, 1)
    assert v2.number == 2 and v2.editable
    copied = api.list_links(svc.id, 2)
    assert [(x.id, x.name, x.resource_id, x.version) for x in copied] == [(link.id, "cfg", store.id, 2)]

    a1 = api.activate_version(svc.id, 1)
    assert a1.active and a1.locked
    assert api.active_version(svc.id).number == 1
    a2 = api.activate_version(svc.id, 2)
    assert a2.active and a2.locked
    v1 = api.get_version(svc.id, 1)
    assert not v1.active and v1.locked
    assert [v.number for v in api.list_versions(svc.id) if v.active] == [2]
    assert api.get_service(svc.id).active_version == 2

    d2 = api.deactivate_version(svc.id, 2)
    assert not d2.active and d2.locked
    assert api.active_version(svc.id) is None
    with pytest.raises(Conflict):
        api.deactivate_version(svc.id, 2)


def test_clone_takes_highest_plus_one_and_copies_comment(api, svc):
    api.clone_version(svc.id, 1)
    api.clone_version(svc.id, 1)
    v = api.clone_version(svc.id, 2)
    assert v.number == 4
    assert [x.number for x in api.list_versions(svc.id)] == [1, 2, 3, 4]


def test_create_version_is_empty(api, svc, store):
    api.create_link(svc.id, 1, store.id)
    v = api.create_version(svc.id, comment="fresh")
    assert v.number == 2 and v.comment == "fresh" and v.editable
    assert api.list_links(svc.id, 2) == []


def test_update_version_comment(api, svc):
    v = api.update_version(svc.id, 1, comment="new comment")
    assert v.number == 1 and v.comment == "new comment" and v.editable
    assert api.get_version(svc.id, 1).comment == "new comment"
    assert api.update_version(svc.id, 1, comment="").comment == ""


def test_update_version_refuses_locked_active_and_unknown(api, svc):
    api.clone_version(svc.id, 1)
    api.lock_version(svc.id, 1)
    with pytest.raises(VersionLocked):
        api.update_version(svc.id, 1, comment="x")
    api.activate_version(svc.id, 2)
    with pytest.raises(VersionLocked):
        api.update_version(svc.id, 2, comment="x")
    with pytest.raises(NotFound):
        api.update_version(svc.id, 9, comment="x")
    assert api.get_version(svc.id, 1).comment == ""


def test_lock_is_idempotent(api, svc):
    assert api.lock_version(svc.id, 1).locked
    assert api.lock_version(svc.id, 1).locked
    assert not api.get_version(svc.id, 1).active


def test_unknown_version(api, svc):
    for call in (
        lambda: api.get_version(svc.id, 99),
        lambda: api.clone_version(svc.id, 99),
        lambda: api.activate_version(svc.id, 99),
        lambda: api.lock_version(svc.id, 99),
        lambda: api.list_links(svc.id, 99),
    ):
        with pytest.raises(NotFound):
            call()


def test_staged_is_none(api, svc):
    assert api.staged_version(svc.id) is None


def test_version_resolution_on_both_adapters(api, svc):
    api.clone_version(svc.id, 1)
    api.activate_version(svc.id, 1)
    assert resolve_version(api, svc.id, "latest").number == 2
    assert resolve_version(api, svc.id, "active").number == 1
    assert resolve_version(api, svc.id, 2).number == 2
    with pytest.raises(NotFound):
        resolve_version(api, svc.id, "staged")
    chosen = editable_version(api, svc.id, "active", autoclone=True)
    assert chosen.version.number == 3 and chosen.cloned_from.number == 1
    with pytest.raises(VersionLocked):
        editable_version(api, svc.id, "active", autoclone=False)
    api.deactivate_version(svc.id, 1)
    with pytest.raises(NotFound):
        resolve_version(api, svc.id, "active")


# ----------------------------------------------------------------------------------------- resource links
def test_link_crud(api, svc, store):
    link = api.create_link(svc.id, 1, store.id)
    assert ID_RE.match(link.id)
    assert link.name == store.name  # the name defaults to the store's name
    assert (link.service_id, link.version, link.resource_id) == (svc.id, 1, store.id)
    assert link.resource_type == "kv-store" and link.href is None and link.deleted_at is None
    assert isinstance(link.created_at, datetime) and isinstance(link.updated_at, datetime)

    named = api.create_link(svc.id, 1, store.id, "edge_name")
    assert named.name == "edge_name"
    assert sorted(x.id for x in api.list_links(svc.id, 1)) == sorted([link.id, named.id])
    assert api.get_link(svc.id, 1, named.id) == named

    renamed = api.update_link(svc.id, 1, named.id, name="renamed")
    assert renamed.name == "renamed" and renamed.id == named.id and renamed.created_at == named.created_at
    assert api.get_link(svc.id, 1, named.id).name == "renamed"

    api.delete_link(svc.id, 1, named.id)
    with pytest.raises(NotFound):
        api.get_link(svc.id, 1, named.id)
    with pytest.raises(NotFound):
        api.delete_link(svc.id, 1, named.id)
    assert [x.id for x in api.list_links(svc.id, 1)] == [link.id]


def test_link_to_unknown_store_service_or_version(api, svc, store):
    with pytest.raises(NotFound):
        api.create_link(svc.id, 1, "nosuchstore00000000000")
    with pytest.raises(NotFound):
        api.create_link(svc.id, 7, store.id)
    with pytest.raises(NotFound):
        api.create_link("NoSuchService000000000", 1, store.id)
    with pytest.raises(NotFound):
        api.update_link(svc.id, 1, "NoSuchLink000000000000", name="x")


def test_duplicate_link_name_in_one_version(api, svc, store):
    api.create_link(svc.id, 1, store.id, "dup")
    with pytest.raises(Conflict) as exc:
        api.create_link(svc.id, 1, store.id, "dup")
    assert exc.value.status == 409
    other = api.create_link(svc.id, 1, store.id, "other")
    with pytest.raises(Conflict):
        api.update_link(svc.id, 1, other.id, name="dup")


@pytest.mark.parametrize("how", ["locked", "active"])
def test_links_on_a_locked_or_active_version_refuse_edits(api, svc, store, how):
    link = api.create_link(svc.id, 1, store.id, "pinned")
    if how == "locked":
        api.lock_version(svc.id, 1)
    else:
        api.activate_version(svc.id, 1)
    for call in (
        lambda: api.create_link(svc.id, 1, store.id, "new"),
        lambda: api.update_link(svc.id, 1, link.id, name="renamed"),
        lambda: api.delete_link(svc.id, 1, link.id),
    ):
        with pytest.raises(VersionLocked) as exc:
            call()
        assert exc.value.status == 422
        assert exit_code_for(exc.value) == 4
    # reads still work, and nothing changed
    assert [x.name for x in api.list_links(svc.id, 1)] == ["pinned"]


def test_linked_store_cannot_be_deleted(api, svc, store):
    link = api.create_link(svc.id, 1, store.id)
    with pytest.raises(Conflict) as exc:
        api.delete_store(store.id)
    assert exc.value.status == 409
    assert api.get_store(store.id).id == store.id
    api.delete_link(svc.id, 1, link.id)
    api.delete_store(store.id)
    with pytest.raises(NotFound):
        api.get_store(store.id)


def test_check_store_deletable_refuses_a_linked_store_and_changes_nothing(api, svc, store):
    """Both backends answer the pre-check of `kv-store delete --all` (the served one through a GET)."""
    api.put_item(store.id, "k", b"v")
    assert api.check_store_deletable(store.id) is True  # keys do not count: --all deletes them
    link = api.create_link(svc.id, 1, store.id, "pre_checked")
    with pytest.raises(Conflict) as exc:
        api.check_store_deletable(store.id)
    assert link.id in str(exc.value) and "resource-link delete" in worded(exc.value)[1]
    assert api.get_item(store.id, "k").value == b"v"
    assert [x.id for x in api.list_links(svc.id, 1)] == [link.id]
    with pytest.raises(NotFound):
        api.check_store_deletable("nosuchstore000000000000")


def test_linked_store_refusal_names_the_link_and_the_fix(api, svc, store):
    link = api.create_link(svc.id, 1, store.id, "named_link")
    with pytest.raises(Conflict) as exc:
        api.delete_store(store.id)
    text = str(exc.value)
    assert svc.id in text and link.id in text and "named_link" in text
    assert "resource-link delete" in worded(exc.value)[1]  # the CLI's words (kvcli/cli/hints.py)
    assert "--all" not in worded(exc.value)[1]


def test_service_version_and_link_errors_name_no_cli_flag_and_the_cli_words_them_as_before(api, svc, store):
    """The port's errors (engine, or the HTTP adapter over the served engine) carry a reason and library words; the
    CLI's hint (kvcli/cli/hints.py) is what kvcli printed before, flags and all."""
    from kvcli.api.errors import KvcliError
    from kvcli.api.versioning import parse_version_spec
    from tests.library.test_errors_name_no_flags import no_flag

    def raised(fn) -> KvcliError:
        with pytest.raises(KvcliError) as info:
            fn()
        return info.value

    api.create_link(svc.id, 1, store.id, "linked")
    errors = {
        "update_nothing": raised(lambda: api.update_service(svc.id)),
        "link_without_store": raised(lambda: api.create_link(svc.id, 1, "")),
        "store_linked": raised(lambda: api.delete_store(store.id)),
        "version_spec": raised(lambda: parse_version_spec("newest")),
        "no_active": raised(lambda: resolve_version(api, svc.id, "active")),
        "link_missing": raised(lambda: api.get_link(svc.id, 1, "nosuchlink0000000000000")),
    }
    api.activate_version(svc.id, 1)
    errors["locked"] = raised(lambda: api.create_link(svc.id, 1, store.id, "again"))
    errors["not_editable"] = raised(lambda: editable_version(api, svc.id, 1, autoclone=False))
    for name, err in errors.items():
        no_flag(err)
        assert err.reason, name
    cli = {name: worded(err)[1] or "" for name, err in errors.items()}
    assert cli["update_nothing"] == "pass a new name with -n/--name or a comment with --comment"
    assert cli["link_without_store"] == "pass the KV store ID with -r/--resource-id"
    assert "--version" in cli["version_spec"] and "--version latest" in cli["no_active"]
    assert "--autoclone" in cli["locked"] and "--autoclone" in cli["not_editable"]
    assert f"--service-id {svc.id} --version 1" in cli["link_missing"]
    assert "'kvcli resource-link delete" in cli["store_linked"]


def test_a_link_update_with_nothing_to_change_is_refused_on_every_backend(api, svc, store):
    link = api.create_link(svc.id, 1, store.id, "kept")
    for empty in ({}, {"name": ""}, {"name": None, "resource_id": None}):
        with pytest.raises(InvalidInput) as exc:
            api.update_link(svc.id, 1, link.id, **empty)
        assert exc.value.reason == "link_update_empty"
    assert api.list_links(svc.id, 1)[0].name == "kept"
