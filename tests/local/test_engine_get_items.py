"""Engine.get_items: many keys in one read transaction (what copy and diff read from the embedded backend)."""

from __future__ import annotations

import pytest

from kvcli.api.errors import NotFound
from kvcli.local.engine import Engine


class Clock:
    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_get_items_reads_many_keys_in_order_missing_and_expired_ones_as_none(tmp_path):
    clock = Clock()
    eng = Engine.in_dir(tmp_path / "data", clock=clock)
    try:
        sid = eng.create_store("many").id
        for i in range(1200):
            eng.put_item(sid, f"k{i:04d}", f"v{i}".encode(), metadata=f"m{i}" if i % 2 else None)
        eng.put_item(sid, "short", b"s", ttl=10)
        keys = ["k1199", "nope", "k0000", "short", *(f"k{i:04d}" for i in range(1, 1100))]
        items = eng.get_items(sid, keys)
        assert [i.key if i else None for i in items] == [k if k != "nope" else None for k in keys]
        assert items[0].value == b"v1199" and items[0].metadata == "m1199" and items[2].metadata == ""
        assert items[3].expires_at is not None
        clock.t += 11
        assert eng.get_items(sid, ["short", "k0001"])[0] is None
        with pytest.raises(NotFound):
            eng.get_items("nosuchstore0000000000", ["k0001"])
    finally:
        eng.close()


def test_item_rows_pages_live_items_in_key_order_with_values_under_a_prefix(tmp_path):
    clock = Clock()
    eng = Engine.in_dir(tmp_path / "data", clock=clock)
    try:
        sid = eng.create_store("rows").id
        for i in range(25):
            eng.put_item(sid, f"p/{i:02d}", f"v{i}".encode(), metadata=f"m{i}" if i % 2 else None,
                         ttl=5 if i == 3 else None)
        eng.put_item(sid, "q", b"outside the prefix")
        eng.put_item(sid, "o", b"before the prefix")
        seen: list[tuple] = []
        after = None
        while True:
            rows, more = eng.item_rows(sid, "p/", after, limit=10)
            assert len(rows) <= 10
            seen.extend(rows)
            if not more:
                break
            after = rows[-1][0]
        assert [r[0] for r in seen] == [f"p/{i:02d}" for i in range(25)]
        assert seen[1] == ("p/01", "m1", None, b"v1") and seen[0] == ("p/00", "", None, b"v0")
        assert seen[3][2] == clock.t + 5
        rows, more = eng.item_rows(sid)
        assert [r[0] for r in rows] == ["o", *(f"p/{i:02d}" for i in range(25)), "q"] and not more
        clock.t += 6  # p/03 has expired
        assert "p/03" not in [r[0] for r in eng.item_rows(sid, "p/")[0]]
        assert eng.item_rows(sid, "zzz") == ([], False)
        with pytest.raises(NotFound):
            eng.item_rows("nosuchstore0000000000")
    finally:
        eng.close()
