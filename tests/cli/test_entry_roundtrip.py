"""Property: any valid key and any bytes value survive create → get → list → delete through the CLI."""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kvcli.api.validation import key_problem

valid_keys = st.one_of(
    st.text(min_size=1, max_size=40),
    st.text(alphabet=st.characters(max_codepoint=0x7F), min_size=1, max_size=40),
    st.text(min_size=200, max_size=400),  # long keys, up to 1,600 bytes: the filter keeps those ≤ 1,024
).filter(lambda k: key_problem(k) is None)
values = st.one_of(st.binary(max_size=4096), st.just(b""), st.just(bytes(range(256))))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=valid_keys, value=values)
@example(key="a/b c%d", value=b"\x00\xff")
@example(key=" -leading space and dash", value=b"\n")
@example(key='q"uote\\', value=b"")
@example(key="é" * 512, value=b"x")
def test_create_get_list_delete_round_trip(cli, store_id, engine, key, value):
    created = cli("kv-store-entry", "create", "-s", store_id, f"--key={key}", "--value-file", "-", input=value)
    assert created.exit_code == 0, created

    got = cli("kv-store-entry", "get", "-s", store_id, f"--key={key}")
    assert got.exit_code == 0, got
    assert got.stdout_bytes == value

    listed = cli("kv-store-entry", "list", "-s", store_id, f"--prefix={key}")
    assert listed.exit_code == 0, listed
    assert listed.stdout_bytes == key.encode("utf-8") + b"\n"  # verbatim, one line (the store holds only this key)

    deleted = cli("kv-store-entry", "delete", "-s", store_id, f"--key={key}")
    assert deleted.exit_code == 0, deleted
    assert engine.list_keys(store_id).items == []
