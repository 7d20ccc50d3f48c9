"""The one cattrs converter that owns the JSON shape of every wire model.

Wire models are frozen attrs classes.  Each registers here, through
:func:`register_wire_model`, how its Python attribute names map to wire keys,
which fields convert through their own hooks, and whether ``None`` fields are
left out, so no other module builds wire dicts by hand.  (Hot-path models may
register hand-written hooks on :data:`converter` directly.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

__all__ = [
    "converter",
    "register_wire_model",
    "strip_none",
    "structure",
    "unstructure",
    "wire_names",
]

T = TypeVar("T")

converter = cattrs.Converter()

# Attribute name -> wire key, for the models registered with renames.
_WIRE_NAMES: dict[type[Any], Mapping[str, str]] = {}


def wire_names(cls: type[Any]) -> Mapping[str, str]:
    """The attributes of ``cls`` whose wire key differs from their name."""
    return _WIRE_NAMES.get(cls, {})


def strip_none(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """``mapping`` without its ``None`` values (one level)."""
    return {key: value for key, value in mapping.items() if value is not None}


def register_wire_model(
    cls: type[T],
    *,
    renames: Mapping[str, str] | None = None,
    unstruct_hooks: Mapping[str, Callable[[Any], Any]] | None = None,
    struct_hooks: Mapping[str, Callable[[Any, Any], Any]] | None = None,
    omit_none: bool = True,
    always: Iterable[str] = (),
    absent_is_none: Iterable[str] = (),
) -> type[T]:
    """Teach the converter the wire shape of ``cls``.

    Keys come out in declaration order.  ``renames`` maps attribute names to
    wire keys; ``unstruct_hooks`` and ``struct_hooks`` give single fields
    their own conversion (a hook also sees ``None``).  With ``omit_none`` (the
    norm on Inngest's wire, as the official SDK strips ``None`` from its
    payloads) a field whose wire value is ``None`` is left out, except those
    named in ``always`` (fields the peer expects even when ``null``).
    ``absent_is_none`` names fields whose default is not ``None`` but whose
    absence on the wire means ``None`` (so structuring what was unstructured
    gives the value back).
    """
    renames = dict(renames or {})
    unstruct_hooks = dict(unstruct_hooks or {})
    struct_hooks = dict(struct_hooks or {})
    always = set(always)
    absent_is_none = list(absent_is_none)
    names = [a.name for a in attrs.fields(cls)]  # type: ignore[arg-type]
    unknown = (
        set(renames)
        | set(unstruct_hooks)
        | set(struct_hooks)
        | always
        | set(absent_is_none)
    ) - set(names)
    if unknown:
        msg = f"{cls.__name__} has no attributes {sorted(unknown)}"
        raise TypeError(msg)
    # The hooks are generated on first use, not here: generating them all
    # at import was a fifth of the package's import time.
    made: dict[str, Any] = {}

    def to_dict(value: T) -> dict[str, Any]:
        fn = made.get("to")
        if fn is None:
            fn = made["to"] = make_dict_unstructure_fn(
                cls,
                converter,
                _cattrs_omit_if_default=False,
                **{  # type: ignore[arg-type]
                    n: override(
                        rename=renames.get(n), unstruct_hook=unstruct_hooks.get(n)
                    )
                    for n in names
                },
            )
        return fn(value)

    def from_dict(data: Any, _: Any) -> T:
        fn = made.get("from")
        if fn is None:
            fn = made["from"] = make_dict_structure_fn(
                cls,
                converter,
                **{  # type: ignore[arg-type]
                    n: override(rename=renames.get(n), struct_hook=struct_hooks.get(n))
                    for n in names
                },
            )
        return fn(data, cls)  # type: ignore[no-any-return]

    if renames:
        _WIRE_NAMES[cls] = dict(renames)
    kept = {renames.get(n, n) for n in always}
    nullable = {n: renames.get(n, n) for n in absent_is_none}

    def unstructure_model(value: T) -> dict[str, Any]:
        return {
            key: item
            for key, item in to_dict(value).items()
            if item is not None or key in kept
        }

    def structure_model(data: Any, _: Any) -> T:
        value = from_dict(data, cls)
        absent = {n: None for n, key in nullable.items() if key not in data}
        return attrs.evolve(value, **absent) if absent else value  # type: ignore[misc]

    converter.register_unstructure_hook(
        cls, unstructure_model if omit_none else to_dict
    )
    converter.register_structure_hook(cls, structure_model if nullable else from_dict)
    return cls


def unstructure(value: Any) -> Any:
    """Turn a wire model (or a container of them) into JSON-ready values."""
    return converter.unstructure(value)


def structure(data: Any, cls: type[T]) -> T:
    """Build a wire model from parsed JSON; raises cattrs errors on bad shapes."""
    return converter.structure(data, cls)
