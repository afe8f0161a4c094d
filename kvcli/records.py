"""A start-up-cheap ``dataclass`` for kvcli's plain data classes (models, errors, config, state).

``dataclasses.dataclass`` costs about a millisecond per class when a module is imported (it compiles half a dozen
methods and inspects the class), and importing ``dataclasses`` loads ``inspect`` and ``ast`` on top. Every kvcli
command imports about fifteen such classes, which made them the largest part of kvcli's own start-up. This decorator
builds the same classes for the subset kvcli uses, in a fraction of the time: only ``__init__`` is compiled (so
creating instances is exactly as fast as with dataclasses), the other methods are shared closures.

Supported, with the semantics of ``dataclasses``: fields from the class's annotations in order; defaults;
``field(default=…)``, ``field(default_factory=…)``, ``field(repr=False)``; ``frozen=True``; ``kw_only=True`` (every
field keyword-only); ``slots=True`` (the class is made again with ``__slots__``, as dataclasses does); generated
``__init__``, ``__repr__``, ``__eq__``, ``__match_args__``, and ``__hash__`` (frozen) or ``__hash__ = None``
(mutable), each only when the class does not define it; :func:`replace`. Anything else (``ClassVar``, ``InitVar``,
``KW_ONLY``, fields inherited from a base record, ``order``) is refused with a TypeError, so a future need shows up at
once rather than as a subtle difference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar, dataclass_transform, overload

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["FrozenInstanceError", "dataclass", "field", "fields", "replace"]

_MISSING: Any = type("_Missing", (), {"__repr__": lambda self: "<missing>"})()
_UNSUPPORTED = ("ClassVar", "InitVar", "KW_ONLY")


class FrozenInstanceError(AttributeError):
    """Assigning to a field of a frozen record (as ``dataclasses.FrozenInstanceError``)."""


class Field:
    __slots__ = ("default", "default_factory", "repr")

    def __init__(self, default: Any = _MISSING, default_factory: Any = _MISSING, repr: bool = True) -> None:
        if default is not _MISSING and default_factory is not _MISSING:
            raise ValueError("cannot specify both default and default_factory")
        self.default = default
        self.default_factory = default_factory
        self.repr = repr


def field(*, default: Any = _MISSING, default_factory: Any = _MISSING, repr: bool = True) -> Any:
    return Field(default, default_factory, repr)


def fields(obj_or_cls: Any) -> tuple[str, ...]:
    """The field names of a record class or instance, in order."""
    return obj_or_cls.__record_fields__


def replace(obj: _T, /, **changes: Any) -> _T:
    """A copy of the record ``obj`` with ``changes`` (as ``dataclasses.replace``; an unknown name is a TypeError)."""
    names = type(obj).__record_fields__  # type: ignore[attr-defined]
    for name in changes:
        if name not in names:
            raise TypeError(f"{type(obj).__name__} has no field {name!r}")
    return type(obj)(**{**{n: getattr(obj, n) for n in names}, **changes})


_T = TypeVar("_T")


@overload
def dataclass(cls: type[_T], /, *, frozen: bool = False, kw_only: bool = False, slots: bool = False) -> type[_T]: ...
@overload
def dataclass(
    cls: None = None, /, *, frozen: bool = False, kw_only: bool = False, slots: bool = False
) -> Callable[[type[_T]], type[_T]]: ...


# type checkers see what it generates (__init__ from the fields, frozen attributes) as for dataclasses.dataclass
@dataclass_transform(field_specifiers=(field, Field))
def dataclass(cls: type | None = None, /, *, frozen: bool = False, kw_only: bool = False, slots: bool = False) -> Any:
    def wrap(c: type) -> type:
        return _process(c, frozen, kw_only, slots)

    return wrap if cls is None else wrap(cls)


def _process(cls: Any, frozen: bool, kw_only: bool, slots: bool) -> type:  # Any: it adds attributes at run time
    for base in cls.__mro__[1:]:
        if "__record_fields__" in base.__dict__:
            raise TypeError(f"{cls.__name__}: fields inherited from a record are not supported")
    names: list[str] = []
    annotations: dict[str, Any] = {}
    shown: list[str] = []
    params: list[str] = []
    lines: list[str] = []
    ns: dict[str, Any] = {"_MISSING": _MISSING, "_setattr": object.__setattr__}
    seen_default = False
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():
        text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", repr(annotation))
        if any(word in text for word in _UNSUPPORTED):
            raise TypeError(f"{cls.__name__}.{name}: {text} is not supported by kvcli.records")
        value = cls.__dict__.get(name, _MISSING)
        spec = value if isinstance(value, Field) else Field(default=value)
        if isinstance(value, Field):
            if spec.default is _MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, spec.default)  # as dataclasses: the default stays a class attribute
        if spec.default is not _MISSING:
            ns[f"_dflt_{name}"] = spec.default
            params.append(f"{name}=_dflt_{name}")
            expr = name
        elif spec.default_factory is not _MISSING:
            ns[f"_fact_{name}"] = spec.default_factory
            params.append(f"{name}=_MISSING")
            expr = f"_fact_{name}() if {name} is _MISSING else {name}"
        else:
            if seen_default and not kw_only:
                raise TypeError(f"non-default argument {name!r} follows default argument")
            params.append(name)
            expr = name
        seen_default = seen_default or spec.default is not _MISSING or spec.default_factory is not _MISSING
        lines.append(f"_setattr(self, {name!r}, {expr})" if frozen else f"self.{name} = {expr}")
        names.append(name)
        annotations[name] = annotation
        if spec.repr:
            shown.append(name)

    fields_t = tuple(names)
    shown_t = tuple(shown)
    if slots:  # made again with __slots__ (and without the defaults as class attributes, which slots forbid)
        if "__slots__" in cls.__dict__:
            raise TypeError(f"{cls.__name__} already specifies __slots__")
        body = {k: v for k, v in cls.__dict__.items() if k not in fields_t and k not in ("__dict__", "__weakref__")}
        body["__slots__"] = fields_t
        qualname = cls.__qualname__
        cls = type(cls)(cls.__name__, cls.__bases__, body)
        cls.__qualname__ = qualname
    signature = ", ".join(["*", *params] if kw_only and params else params)
    src = f"def __init__(self, {signature}):\n    " + ("\n    ".join(lines) or "pass") + "\n"
    exec(src, ns)  # the source holds only the class's own field names
    ns["__init__"].__annotations__ = {**annotations, "return": None}  # for typing.get_type_hints, Hypothesis
    methods: dict[str, Any] = {"__init__": ns["__init__"]}

    def __repr__(self: Any) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in shown_t)
        return f"{self.__class__.__qualname__}({inner})"

    def __eq__(self: Any, other: Any) -> Any:
        if other.__class__ is self.__class__:
            return tuple(getattr(self, n) for n in fields_t) == tuple(getattr(other, n) for n in fields_t)
        return NotImplemented

    methods["__repr__"] = __repr__
    methods["__eq__"] = __eq__
    for attr, fn in methods.items():
        if attr not in cls.__dict__:
            fn.__qualname__ = f"{cls.__qualname__}.{attr}"
            setattr(cls, attr, fn)

    if "__hash__" not in cls.__dict__ or cls.__dict__["__hash__"] is None:
        if frozen:

            def __hash__(self: Any) -> int:
                return hash(tuple(getattr(self, n) for n in fields_t))

            cls.__hash__ = __hash__
        else:
            cls.__hash__ = None

    if frozen:
        if "__setattr__" in cls.__dict__ or "__delattr__" in cls.__dict__:
            raise TypeError(f"cannot overwrite __setattr__/__delattr__ in frozen record {cls.__name__}")

        def __setattr__(self: Any, name: str, value: Any) -> None:
            if type(self) is cls or name in fields_t:
                raise FrozenInstanceError(f"cannot assign to field {name!r}")
            super(cls, self).__setattr__(name, value)

        def __delattr__(self: Any, name: str) -> None:
            if type(self) is cls or name in fields_t:
                raise FrozenInstanceError(f"cannot delete field {name!r}")
            super(cls, self).__delattr__(name)

        cls.__setattr__ = __setattr__
        cls.__delattr__ = __delattr__

    setattr(cls, "__match_args__", () if kw_only else fields_t)  # noqa: B010 - mypy refuses the attribute form
    cls.__record_fields__ = fields_t
    return cls
