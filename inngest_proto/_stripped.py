"""Wire models whose ``None`` fields are left out, keys in declaration order.

The official SDK builds every sync payload, then strips ``None`` values from
it recursively (empty lists stay).  :func:`register_stripped_model` gives an
attrs class that shape on the one converter: fields in declaration order
(``register_wire_model`` with ``omit_if_default`` moves optional keys to the
end), renamed keys, per-field hooks, and every ``None`` omitted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import attrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._converter import converter

__all__ = ["register_stripped_model", "strip_none"]

T = TypeVar("T")


def strip_none(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """``mapping`` without its ``None`` values (one level)."""
    return {key: value for key, value in mapping.items() if value is not None}


def register_stripped_model(
    cls: type[T],
    *,
    renames: Mapping[str, str] | None = None,
    unstruct_hooks: Mapping[str, Callable[[Any], Any]] | None = None,
    struct_hooks: Mapping[str, Callable[[Any, Any], Any]] | None = None,
    absent_is_none: Iterable[str] = (),
) -> type[T]:
    """Teach the converter the ``None``-free wire shape of ``cls``.

    ``renames`` maps attribute names to wire keys; ``unstruct_hooks`` and
    ``struct_hooks`` give single fields their own conversion (a hook also sees
    ``None``).  ``absent_is_none`` names fields whose default is not ``None``
    but whose absence on the wire means ``None`` (so structuring what was
    unstructured gives the value back).
    """
    renames = dict(renames or {})
    unstruct_hooks = dict(unstruct_hooks or {})
    struct_hooks = dict(struct_hooks or {})
    names = [a.name for a in attrs.fields(cls)]  # type: ignore[arg-type]
    unknown = (
        set(renames) | set(unstruct_hooks) | set(struct_hooks) | set(absent_is_none)
    ) - set(names)
    if unknown:
        msg = f"{cls.__name__} has no attributes {sorted(unknown)}"
        raise TypeError(msg)
    to_dict = make_dict_unstructure_fn(
        cls,
        converter,
        _cattrs_omit_if_default=False,
        **{  # type: ignore[arg-type]
            n: override(rename=renames.get(n), unstruct_hook=unstruct_hooks.get(n))
            for n in names
        },
    )
    from_dict = make_dict_structure_fn(
        cls,
        converter,
        **{  # type: ignore[arg-type]
            n: override(rename=renames.get(n), struct_hook=struct_hooks.get(n))
            for n in names
        },
    )
    nullable = {n: renames.get(n, n) for n in absent_is_none}

    def unstructure_model(value: T) -> dict[str, Any]:
        return strip_none(to_dict(value))

    def structure_model(data: Any, _: Any) -> T:
        value = from_dict(data, cls)
        absent = {n: None for n, key in nullable.items() if key not in data}
        return attrs.evolve(value, **absent) if absent else value  # type: ignore[misc]

    converter.register_unstructure_hook(cls, unstructure_model)
    converter.register_structure_hook(cls, structure_model)
    return cls
