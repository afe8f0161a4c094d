"""The light session (kvcli.api.http.light) against a hostile or broken server: each test is an attack a reviewer
tried, kept so the defect it found stays fixed (docs/http.md, "Sessions"). Where httpx behaves differently, the test
says which way and why the light session's way is the one kept."""

from __future__ import annotations

from tests.wire.rawserver import RawServer, response
from tests.wire.test_light_session import ITEM, SESSIONS, _no_proxy_env, adapter, on_both, outcome  # noqa: F401

STORES = b'{"data":[{"id":"%s","name":"n"}],"meta":{}}'


# ------------------------------------------------------------------------------------------- connection reuse
def test_bytes_after_an_answer_are_never_taken_as_the_next_answer():
    """A server (or a proxy in between) sends a second, forged answer right behind the first, in the same packet: the
    next request must be answered by the server, on a new connection, not by the leftover bytes (response desync).
    httpx (h11) keeps such bytes and hands them to the next request; the light session drops the connection."""
    forged = response(body=STORES % b"real") + response(body=STORES % b"FORGED")
    replies = [forged, response(body=STORES % b"second")]
    with RawServer(lambda s, i: replies[min(i, 1)]) as server:
        api = adapter("light", server.url)
        got = [outcome(lambda: [s.id for s in api.list_stores().items]) for _ in range(2)]
        api.close()
    assert got == [("ok", ["real"]), ("ok", ["second"])]
    assert [s.connection for s in server.seen] == [0, 1]


def test_a_body_sent_with_the_answer_to_head_is_not_the_next_answer():
    """An answer to HEAD has no body whatever its Content-Length says: bytes that follow it in the same packet (here a
    forged answer) close the connection instead of answering the next request."""
    def answer(seen, i):
        if seen.head.startswith(b"HEAD"):
            forged = b"HTTP/1.1 200 OK\r\nGeneration: 1\r\nContent-Length: 6\r\n\r\nFORGED"
            return response(headers=ITEM | {"Content-Length": "5"}, length=False) + forged
        return response(body=b"value", headers=ITEM)

    with RawServer(answer) as server:
        api = adapter("light", server.url)
        got = [outcome(lambda: api.describe_item("s", "k").generation), outcome(lambda: api.get_item("s", "k").value)]
        api.close()
    assert got == [("ok", 17), ("ok", b"value")]
    assert [s.connection for s in server.seen] == [0, 1]
