"""kvcli.records, the start-up-cheap dataclass of kvcli's data classes: the same behaviour as dataclasses for what it
supports, a TypeError for what it does not."""

from __future__ import annotations

import dataclasses
import inspect
import pickle

import pytest

from kvcli import records


def _pair(frozen: bool, slots: bool = False):
    """The same class built by dataclasses and by kvcli.records."""
    made = []
    for module in (dataclasses, records):

        @module.dataclass(frozen=frozen, slots=slots)
        class Rec:
            key: str
            size: int = 0
            tags: tuple = module.field(default_factory=tuple)
            secret: str | None = module.field(default=None, repr=False)

            @property
            def double(self) -> int:
                return self.size * 2

        made.append(Rec)
    return made


@pytest.mark.parametrize("slots", [False, True])
@pytest.mark.parametrize("frozen", [True, False])
def test_records_behave_like_dataclasses(frozen, slots):
    std, lite = _pair(frozen, slots)
    for args, kwargs in ((("k",), {}), (("k", 3), {"secret": "s"}), ((), {"key": "k", "tags": ("a",), "size": 1})):
        a, b = std(*args, **kwargs), lite(*args, **kwargs)
        assert repr(a) == repr(b)
        assert (a.key, a.size, a.tags, a.secret, a.double) == (b.key, b.size, b.tags, b.secret, b.double)
        assert b == lite(*args, **kwargs) and b != lite("other") and b != a  # another class is never equal
        if frozen:
            assert hash(a) == hash(b)
    assert [str(p) for p in inspect.signature(lite).parameters.values()][:2] == ["key: 'str'", "size: 'int' = 0"]
    assert lite.__match_args__ == std.__match_args__
    assert (lite.__hash__ is None) == (std.__hash__ is None)
    if frozen:
        with pytest.raises(AttributeError, match="cannot assign to field 'size'"):
            lite("k").size = 1
        with pytest.raises(AttributeError):
            del lite("k").key
    else:
        b = lite("k")
        b.size = 9
        assert b.size == 9
    with pytest.raises(TypeError):
        lite()


def test_records_default_factory_gives_each_instance_its_own_value():
    from kvcli.records import dataclass, field

    @dataclass
    class Bag:
        items: list = field(default_factory=list)

    one, two = Bag(), Bag()
    one.items.append(1)
    assert (one.items, two.items, Bag([5]).items) == ([1], [], [5])


def test_records_refuse_what_they_do_not_implement():
    from typing import ClassVar

    from kvcli.records import dataclass

    with pytest.raises(TypeError, match="follows default"):

        @dataclass
        class Order:
            a: int = 1
            b: int

    with pytest.raises(TypeError, match="ClassVar"):

        @dataclass
        class Var:
            a: ClassVar[int] = 1

    @dataclass
    class Base:
        a: int

    with pytest.raises(TypeError, match="inherited"):

        @dataclass
        class Child(Base):
            b: int


def test_slots_records_have_no_instance_dict_and_keep_their_methods():
    std, lite = _pair(frozen=False, slots=True)
    one = lite("k", 2)
    assert lite.__slots__ == std.__slots__ == ("key", "size", "tags", "secret")
    assert not hasattr(one, "__dict__")
    with pytest.raises(AttributeError):
        one.other = 1  # type: ignore[attr-defined]
    assert one.double == 4 and lite.__qualname__.endswith("Rec")
    assert type(lite.__dict__["size"]).__name__ == "member_descriptor"  # a slot, not a default


def test_frozen_slots_records_refuse_assignment():
    _, lite = _pair(frozen=True, slots=True)
    rec = lite("k")
    with pytest.raises(records.FrozenInstanceError):
        rec.size = 3
    assert hash(rec) == hash(lite("k"))


def test_kw_only_records_take_keywords_only_in_any_order_of_defaults():
    made = []
    for module in (dataclasses, records):

        @module.dataclass(frozen=True, kw_only=True)
        class Flags:
            name: str | None = None
            count: int  # no default after a default: allowed when every field is keyword-only
            tags: list = module.field(default_factory=list)

        made.append(Flags)
    std, lite = made
    assert lite(count=1) == lite(count=1, name=None) and repr(lite(count=1)) == repr(std(count=1))
    assert [p.kind for p in inspect.signature(lite).parameters.values()] == [inspect.Parameter.KEYWORD_ONLY] * 3
    assert lite.__match_args__ == std.__match_args__ == ()
    with pytest.raises(TypeError):
        lite(None, 1)  # type: ignore[misc]
    with pytest.raises(TypeError, match="nmae"):
        lite(count=1, nmae="x")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        lite()  # type: ignore[call-arg]


def test_replace_copies_with_changes_as_dataclasses_replace():
    std, lite = _pair(frozen=True)
    a, b = std("k", 1, ("t",)), lite("k", 1, ("t",))
    assert repr(records.replace(b, size=5)) == repr(dataclasses.replace(a, size=5))
    assert records.replace(b) == b and records.replace(b) is not b
    assert b.size == 1  # the original is unchanged
    with pytest.raises(TypeError, match="no field 'sise'"):
        records.replace(b, sise=5)


def test_records_module_level_classes_pickle():
    rec = _Module("k", 3)
    assert pickle.loads(pickle.dumps(rec)) == rec
    slotted = _Slotted("k")
    assert pickle.loads(pickle.dumps(slotted)) == slotted


@records.dataclass(frozen=True)
class _Module:
    key: str
    size: int = 0


@records.dataclass(slots=True)
class _Slotted:
    key: str
    size: int = 0
