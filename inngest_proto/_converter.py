"""The one cattrs converter that owns the JSON shape of every wire model.

Wire models are frozen attrs classes.  Each registers here how its Python
attribute names map to wire keys and which absent (default-valued) fields are
left out, so no other module builds wire dicts by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

__all__ = ["converter", "register_wire_model", "structure", "unstructure"]

T = TypeVar("T")

converter = cattrs.Converter()


def register_wire_model(
    cls: type[T],
    *,
    renames: Mapping[str, str] | None = None,
    omit_if_default: bool = True,
    always: Iterable[str] = (),
) -> type[T]:
    """Teach the converter the wire shape of ``cls``.

    ``renames`` maps attribute names to wire keys.  With ``omit_if_default``
    (the norm on Inngest's wire, where absent optional fields are omitted) a
    field equal to its default is left out, except those named in ``always``
    (fields the peer expects even when ``null``, like an op's ``opts``).
    """
    renames = dict(renames or {})
    keep = set(always)
    names = {a.name for a in cls.__attrs_attrs__}  # type: ignore[attr-defined]
    unknown = (set(renames) | keep) - names
    if unknown:
        msg = f"{cls.__name__} has no attributes {sorted(unknown)}"
        raise TypeError(msg)
    unstructure_overrides = {
        name: override(
            rename=renames.get(name),
            omit_if_default=False if name in keep else None,
        )
        for name in names
    }
    structure_overrides = {name: override(rename=renames.get(name)) for name in names}
    converter.register_unstructure_hook(
        cls,
        make_dict_unstructure_fn(
            cls,
            converter,
            _cattrs_omit_if_default=omit_if_default,
            **unstructure_overrides,  # type: ignore[arg-type]
        ),
    )
    converter.register_structure_hook(
        cls,
        make_dict_structure_fn(cls, converter, **structure_overrides),  # type: ignore[arg-type]
    )
    return cls


def unstructure(value: Any) -> Any:
    """Turn a wire model (or a container of them) into JSON-ready values."""
    return converter.unstructure(value)


def structure(data: Any, cls: type[T]) -> T:
    """Build a wire model from parsed JSON; raises cattrs errors on bad shapes."""
    return converter.structure(data, cls)
