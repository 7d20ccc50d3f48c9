"""Typed step and function outputs: turn Python values into JSON and back.

A step's output is stored by Inngest as JSON and handed back on every later
request, so a step that returns a ``datetime`` or a pydantic model must be
written as JSON and rebuilt as the same type when it is replayed.  The type
comes from ``output_type=`` or, failing that, the return annotation of the
step's callable (or of the function, for its own output).  Values typed as
plain JSON (``dict``, ``list``, ``str``, ``int``, ``Any``...) pass through
untouched and cost nothing.

Everything built per type (cattrs hooks, pydantic ``TypeAdapter``s, resolved
annotations) is cached, with bounds, so a worker that serializes millions of
outputs of a few types keeps a flat memory profile.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import types
import typing
import uuid
from collections import abc
from collections.abc import Callable
from typing import Any, Protocol

import cattrs

from ._errors import OutputDeserializationError, OutputUnserializableError

__all__ = [
    "DefaultSerializer",
    "PydanticSerializer",
    "Serializer",
    "conversion_type",
    "declared_output_type",
    "default_serializer",
    "from_wire",
    "is_plain_json_type",
    "to_wire",
]

#: How many distinct types keep a cached converter.  Apps have a handful;
#: the bound only matters for code that makes types at run time.
_CACHE_SIZE = 512


class Serializer(Protocol):
    """What ``Inngest(serializer=...)`` takes (the official SDK's protocol)."""

    def serialize(self, obj: object, typ: object) -> object:
        """``obj`` (declared as ``typ``) as JSON values: dict, list, str..."""
        ...

    def deserialize(self, obj: object, typ: object) -> object:
        """JSON values back into ``typ``."""
        ...


# -- which types need work ----------------------------------------------------------

_JSON_SCALARS: frozenset[object] = frozenset(
    {str, int, float, bool, type(None), None, object, Any}
)
_JSON_CONTAINERS: frozenset[object] = frozenset(
    {dict, list, abc.Mapping, abc.MutableMapping, abc.Sequence, abc.MutableSequence}
)
_UNIONS: frozenset[object] = frozenset({typing.Union, types.UnionType})


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _plain(typ: Any) -> bool:
    if typ in _JSON_SCALARS or typ in _JSON_CONTAINERS:
        return True
    origin = typing.get_origin(typ)
    if origin is typing.Literal:
        return True
    if origin in _UNIONS or origin in _JSON_CONTAINERS:
        return all(_plain(arg) for arg in typing.get_args(typ))
    # A TypedDict is a plain dict at run time.
    return typing.is_typeddict(typ)


def is_plain_json_type(typ: object) -> bool:
    """True when values of ``typ`` are JSON already (nothing to convert)."""
    try:
        return _plain(typ)
    except TypeError:  # unhashable annotation (Annotated with a dict...)
        return False


# -- where the type comes from ------------------------------------------------------

_hint_cache: dict[object, object] = {}


def declared_output_type(handler: Callable[..., Any]) -> object:
    """The return annotation of ``handler``, resolved; ``None`` when absent.

    Resolution (``typing.get_type_hints``) is cached per code object: step
    callables are often closures made anew on every request, but they share
    their code.  An annotation that cannot be resolved (a name local to an
    enclosing function, under ``from __future__ import annotations``) counts
    as absent; pass ``output_type=`` for those.  So does one with a type
    variable (``-> T``, common in decorators and wrappers): it says nothing
    about the value at run time.
    """
    fn = getattr(handler, "__func__", handler)  # bound methods
    annotations = getattr(fn, "__annotations__", None)
    if not annotations or "return" not in annotations:
        return None
    hint = annotations["return"]
    if not isinstance(hint, str) and not _has_forward_refs(hint):
        return None if _has_type_vars(hint) else hint
    code = getattr(fn, "__code__", None)
    key = (code, hint)
    try:
        return _hint_cache[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable annotation
        return _resolve(fn)
    resolved = _resolve(fn)
    if len(_hint_cache) >= _CACHE_SIZE:
        _hint_cache.clear()
    _hint_cache[key] = resolved
    return resolved


#: code object -> (its return annotation, the type to convert through or
#: ``None``), for :func:`conversion_type`.
_conversion_cache: dict[object, tuple[object, object]] = {}


def conversion_type(handler: Callable[..., Any], output_type: object = None) -> object:
    """The type a step's output is converted through, ``None`` for none.

    ``output_type`` if given, else ``handler``'s return annotation; ``None``
    when that is absent or plain JSON.  This runs for every step of every
    call, replayed ones included, so the answer is cached per code object
    and checked against the annotation object itself (the same constant
    for every closure made from that code).
    """
    if output_type is not None:
        return None if is_plain_json_type(output_type) else output_type
    fn = getattr(handler, "__func__", handler)
    code = getattr(fn, "__code__", None)
    if code is None:
        return _conversion(handler)
    hint = fn.__annotations__.get("return")
    entry = _conversion_cache.get(code)
    if entry is not None and entry[0] is hint:
        return entry[1]
    result = _conversion(handler)
    if len(_conversion_cache) >= _CACHE_SIZE * 8:
        _conversion_cache.clear()
    _conversion_cache[code] = (hint, result)
    return result


def _conversion(handler: Callable[..., Any]) -> object:
    typ = declared_output_type(handler)
    return None if typ is None or is_plain_json_type(typ) else typ


def _has_type_vars(hint: object) -> bool:
    if isinstance(hint, typing.TypeVar | typing.ParamSpec):
        return True
    return any(_has_type_vars(arg) for arg in typing.get_args(hint))


def _has_forward_refs(hint: object) -> bool:
    if isinstance(hint, str | typing.ForwardRef):
        return True
    return any(_has_forward_refs(arg) for arg in typing.get_args(hint))


def _resolve(fn: Any) -> object:
    # Only the return annotation: a parameter annotated with a name that
    # exists only for type checkers (``if TYPE_CHECKING:`` imports, very
    # common for ``ctx``) must not hide a perfectly resolvable return type.
    holder = types.FunctionType(_NOOP_CODE, getattr(fn, "__globals__", {}))
    holder.__annotations__ = {"return": fn.__annotations__["return"]}
    try:
        hint = typing.get_type_hints(holder).get("return")
    # Not narrower: resolving a hint evaluates the annotation's code, which
    # may raise anything (NameError, TypeError...); then there is no hint.
    except Exception:
        return None
    return None if _has_type_vars(hint) else hint


_NOOP_CODE = (lambda: None).__code__


# -- the default serializer ---------------------------------------------------------


def _is_pydantic_model(typ: Any) -> bool:
    return (
        isinstance(typ, type)
        and callable(getattr(typ, "model_validate", None))
        and callable(getattr(typ, "model_dump", None))
    )


def _parse_datetime(value: Any, _: Any) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        return value
    text = str(value)
    # Python 3.10's fromisoformat does not read a trailing Z (pydantic's and
    # JavaScript's way of writing UTC).
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    return datetime.datetime.fromisoformat(text)


def _build_converter() -> cattrs.Converter:
    # User values get a converter of their own: their hooks must never reach
    # the one converter that owns the wire format (``_converter``).
    conv = cattrs.Converter()
    conv.register_unstructure_hook(datetime.datetime, lambda v: v.isoformat())
    conv.register_structure_hook(datetime.datetime, _parse_datetime)
    conv.register_unstructure_hook(datetime.date, lambda v: v.isoformat())
    conv.register_structure_hook(
        datetime.date, lambda v, _: datetime.date.fromisoformat(str(v))
    )
    conv.register_unstructure_hook(datetime.time, lambda v: v.isoformat())
    conv.register_structure_hook(
        datetime.time, lambda v, _: datetime.time.fromisoformat(str(v))
    )
    conv.register_unstructure_hook(datetime.timedelta, lambda v: v.total_seconds())
    conv.register_structure_hook(
        datetime.timedelta, lambda v, _: datetime.timedelta(seconds=float(v))
    )
    conv.register_unstructure_hook(uuid.UUID, str)
    conv.register_structure_hook(uuid.UUID, lambda v, _: uuid.UUID(str(v)))
    # A string keeps every digit; a float would not.
    conv.register_unstructure_hook(decimal.Decimal, str)
    conv.register_structure_hook(decimal.Decimal, lambda v, _: decimal.Decimal(str(v)))
    conv.register_unstructure_hook(bytes, lambda v: v.decode("latin-1"))
    conv.register_structure_hook(bytes, lambda v, _: str(v).encode("latin-1"))
    conv.register_unstructure_hook_func(
        _is_pydantic_model, lambda v: v.model_dump(mode="json")
    )
    conv.register_structure_hook_func(
        _is_pydantic_model, lambda v, typ: typ.model_validate(v)
    )
    return conv


class DefaultSerializer:
    """What a client uses unless given another serializer.

    Handles pydantic models (v2, found by duck typing: pydantic need not be
    installed), dataclasses, attrs classes, ``datetime``/``date``/``time``
    (ISO 8601), ``timedelta`` (seconds), ``UUID`` and ``Decimal`` (strings),
    enums (their values) and containers of these, nested as deep as needed.
    """

    def __init__(self) -> None:
        self._conv = _build_converter()

    def serialize(self, obj: object, typ: object) -> object:
        if is_plain_json_type(typ):
            return obj
        return self._conv.unstructure(obj, unstructure_as=typ)

    def deserialize(self, obj: object, typ: object) -> object:
        if is_plain_json_type(typ):
            return obj
        return self._conv.structure(obj, typ)  # type: ignore[arg-type]


class PydanticSerializer:
    """Every type through pydantic's ``TypeAdapter`` (the official SDK's class).

    Adapters are cached per type, at most ``_CACHE_SIZE`` of them: pydantic
    keeps global state for each adapter made, so making one per output would
    grow without bound.
    """

    def serialize(self, obj: object, typ: object) -> object:
        return _adapter(_TypeKey(typ)).dump_python(obj, mode="json")

    def deserialize(self, obj: object, typ: object) -> object:
        return _adapter(_TypeKey(typ)).validate_python(obj)


class _TypeKey:
    """A cache key for any annotation: by equality when hashable, else by
    identity.  The key holds the type, so an identity key's id cannot be
    reused by another object while it is cached."""

    __slots__ = ("_by_id", "_hash", "typ")

    def __init__(self, typ: object) -> None:
        self.typ = typ
        try:
            self._hash = hash(typ)
            self._by_id = False
        except TypeError:
            self._hash = id(typ)
            self._by_id = True

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _TypeKey) or self._by_id != other._by_id:
            return False
        return self.typ is other.typ if self._by_id else bool(self.typ == other.typ)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _adapter(key: _TypeKey) -> Any:
    try:
        import pydantic  # noqa: PLC0415 - optional: only this serializer needs it
    except ImportError as err:
        msg = "PydanticSerializer needs pydantic: pip install 'pydantic>=2'"
        raise ImportError(msg) from err
    # Any annotation is a valid TypeAdapter argument; newer pydantic types it
    # as TypeForm, which ``object`` is not.
    typ: Any = key.typ
    return pydantic.TypeAdapter(typ)


# -- applying a serializer ----------------------------------------------------------


class _Default:
    """The shared :class:`DefaultSerializer`, built on first use: hooks are per
    converter, so one instance for every client keeps one set of them."""

    instance: DefaultSerializer | None = None


def default_serializer() -> DefaultSerializer:
    if _Default.instance is None:
        _Default.instance = DefaultSerializer()
    return _Default.instance


def to_wire(serializer: Serializer, value: object, typ: object, what: str) -> object:
    """``value`` as JSON values, for Inngest to store; ``what`` names it in errors."""
    if typ is None or is_plain_json_type(typ):
        return value
    try:
        return serializer.serialize(value, typ)
    # Not narrower: the serializer is the user's (pydantic, cattrs...),
    # and each raises its own errors for a value it cannot handle.
    except Exception as err:
        msg = (
            f"{what} returned {type(value).__name__}, which could not be "
            f"serialized as {_type_name(typ)}: {err}"
        )
        raise OutputUnserializableError(msg) from err


def from_wire(
    serializer: Serializer,
    stored: object,
    typ: object,
    what: str,
    *,
    annotated: bool = False,
) -> object:
    """A stored output rebuilt as ``typ``, the value the code saw when it ran.

    ``annotated`` says ``typ`` is a return annotation rather than an
    ``output_type=``: an annotation is read to help, not asked for, so a
    stored value the serializer cannot rebuild as it is handed back as the
    JSON it is (what the official SDK, which reads no annotation, gives)
    rather than breaking the replay.
    """
    if typ is None or is_plain_json_type(typ):
        return stored
    try:
        return serializer.deserialize(stored, typ)
    # Not narrower: the serializer is the user's (pydantic, cattrs...),
    # and each raises its own errors for a value it cannot handle.
    except Exception as err:
        if annotated:
            return stored
        msg = (
            f"the stored output of {what} is not a valid {_type_name(typ)} "
            f"({err}); did its type change since the run started?"
        )
        raise OutputDeserializationError(msg) from err


def _type_name(typ: object) -> str:
    return getattr(typ, "__qualname__", None) or repr(typ)
