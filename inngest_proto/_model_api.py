"""The pydantic methods of the public models, without pydantic.

The official SDK's ``Event``, options (``Batch``, ``Throttle``, ...) and
``SendEventsResult`` are pydantic models, and apps call ``model_dump()``,
``model_dump_json()``, ``model_validate()``, ``model_validate_json()`` and
``model_copy()`` on them.  Ours are frozen attrs classes; :class:`ModelMethods`
gives each the same methods with the same results, written once:

* a dump is the one converter's wire form of the model (wire keys, durations
  as ``"5m"``), completed with the fields the wire leaves out (``None``, and
  the defaults some models omit), then shaped by the arguments: attribute
  names unless ``by_alias``, ``exclude_none``, ``exclude_unset``, ...;
* validation takes what pydantic's does, attribute names with Python values,
  so it is the model's own constructor: its validators are the model's rules,
  and its errors are the official ones (``FunctionConfigInvalidError`` for the
  options, :class:`ValidationError` for the others).  The converter's
  structure hooks read the wire shape instead, which pydantic refuses.

``exclude_unset`` needs the fields set at construction, which attrs does not
record: ``__new__`` sees the constructor's arguments and keeps their names.
A model built another way (parsed from a request, copied, unpickled) counts
as set the fields that differ from their default, plus the required ones.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Set
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeAlias

import attrs

from ._converter import converter, wire_names
from ._errors import ErrorDetails, ValidationError
from ._json import dumps_text, loads

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["IncEx", "ModelMethods"]

#: ``include``/``exclude``: attribute names (a set, or a dict's keys).
IncEx: TypeAlias = Set[str] | Mapping[str, Any] | None


def _fields(cls: type[Any]) -> tuple[attrs.Attribute[Any], ...]:
    return attrs.fields(cls)  # type: ignore[no-any-return]


def _init_names(cls: type[Any]) -> tuple[str, ...]:
    return tuple(a.name for a in _fields(cls) if a.init)


def _default(field: attrs.Attribute[Any]) -> Any:
    default: Any = field.default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        return default.factory()
    return default


def _missing(cls: type[Any], given: Mapping[str, Any]) -> list[ErrorDetails]:
    return [
        {"type": "missing", "loc": (a.name,), "msg": "Field required", "input": given}
        for a in _fields(cls)
        if a.init and a.default is attrs.NOTHING and a.name not in given
    ]


class ModelMethods:
    """``model_dump``, ``model_validate`` & co. for a frozen attrs model."""

    __slots__ = ("_model_fields_set",)

    _model_fields_set: frozenset[str]

    #: Fields the official model lacks: left out of a dump while ``None``.
    _model_hidden_when_none: ClassVar[frozenset[str]] = frozenset()

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        self = super().__new__(cls)
        # Without arguments this may be copy or pickle rebuilding a model,
        # not a constructor call: nothing is recorded (see the module doc).
        if args or kwargs:
            given = frozenset(kwargs).union(_init_names(cls)[: len(args)])
            object.__setattr__(self, "_model_fields_set", given)
        return self

    @staticmethod
    def _model_error(name: str, errors: list[ErrorDetails]) -> Exception:
        """The error invalid input raises: the official SDK's class.

        A model replaces it with a ``staticmethod`` of its own (the options
        do), so no model needs an intermediate base class to change it.
        """
        return ValidationError(name, errors)

    # --- reading -------------------------------------------------------------

    @property
    def model_fields_set(self) -> set[str]:
        """The fields given explicitly when the model was made."""
        try:
            return set(self._model_fields_set)
        except AttributeError:
            return {
                field.name
                for field in _fields(type(self))
                if field.default is attrs.NOTHING
                or getattr(self, field.name) != _default(field)
            }

    def model_dump(
        self,
        *,
        mode: Literal["json", "python"] | str = "python",
        include: IncEx = None,
        exclude: IncEx = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        exclude_unset: bool = False,
        exclude_defaults: bool = False,
        exclude_none: bool = False,
        exclude_computed_fields: bool = False,
        round_trip: bool = False,
        warnings: bool | Literal["none", "warn", "error"] = True,
        fallback: Callable[[Any], Any] | None = None,
        serialize_as_any: bool = False,
        polymorphic_serialization: bool | None = None,
    ) -> dict[str, Any]:
        """The model as a dict, as the official model's ``model_dump``.

        Values are those of the wire (durations as ``"5m"`` strings, as the
        official models serialize them in both modes); ``mode="json"`` also
        turns what is not JSON (tuples) into JSON types, with ``fallback``
        for values JSON cannot hold.  Keys are attribute names, or wire names
        with ``by_alias=True``.  ``context``, ``exclude_computed_fields``,
        ``round_trip``, ``warnings``, ``serialize_as_any`` and
        ``polymorphic_serialization`` are accepted for pydantic's signature:
        these models have no computed fields, subclasses or serializer
        warnings for them to change.
        """
        del context, exclude_computed_fields, round_trip, warnings
        del serialize_as_any, polymorphic_serialization
        if mode not in {"python", "json"}:
            msg = f"mode must be 'python' or 'json', got {mode!r}"
            raise ValueError(msg)
        cls = type(self)
        wire = converter.unstructure(self)
        renames = wire_names(cls)
        fields_set = self.model_fields_set if exclude_unset else None
        out: dict[str, Any] = {}
        for field in _fields(cls):
            name = field.name
            if include is not None and name not in include:
                continue
            if exclude is not None and name in exclude:
                continue
            if fields_set is not None and name not in fields_set:
                continue
            value = getattr(self, name)
            if (
                exclude_defaults
                and field.default is not attrs.NOTHING
                and value == _default(field)
            ):
                continue
            key = renames.get(name, name)
            # The wire leaves out None and, for some models, a default value.
            dumped = wire[key] if key in wire else converter.unstructure(value)
            if dumped is None and (
                exclude_none or name in self._model_hidden_when_none
            ):
                continue
            out[key if by_alias else name] = dumped
        if mode == "json":
            out = loads(dumps_text(out, default=fallback))
        return out

    def model_dump_json(
        self,
        *,
        indent: int | None = None,
        ensure_ascii: bool = False,
        include: IncEx = None,
        exclude: IncEx = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        exclude_unset: bool = False,
        exclude_defaults: bool = False,
        exclude_none: bool = False,
        exclude_computed_fields: bool = False,
        round_trip: bool = False,
        warnings: bool | Literal["none", "warn", "error"] = True,
        fallback: Callable[[Any], Any] | None = None,
        serialize_as_any: bool = False,
        polymorphic_serialization: bool | None = None,
    ) -> str:
        """``model_dump(mode="json")`` as JSON text: compact, UTF-8 as is
        (``\\uXXXX`` escapes with ``ensure_ascii``)."""
        dumped = self.model_dump(
            mode="json",
            include=include,
            exclude=exclude,
            context=context,
            by_alias=by_alias,
            exclude_unset=exclude_unset,
            exclude_defaults=exclude_defaults,
            exclude_none=exclude_none,
            exclude_computed_fields=exclude_computed_fields,
            round_trip=round_trip,
            warnings=warnings,
            fallback=fallback,
            serialize_as_any=serialize_as_any,
            polymorphic_serialization=polymorphic_serialization,
        )
        return dumps_text(dumped, indent=indent, ensure_ascii=ensure_ascii)

    # --- making --------------------------------------------------------------

    @classmethod
    def model_validate(
        cls,
        obj: Any,
        *,
        strict: bool | None = None,
        extra: Literal["allow", "ignore", "forbid"] | None = None,
        from_attributes: bool | None = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        by_name: bool | None = None,
    ) -> Self:
        """A model from a dict of attribute names (or a model, returned as is).

        Unknown keys are ignored, as by the official models.  Invalid values
        raise what the constructor raises; input that is not a dict raises
        :class:`ValidationError`.  ``strict``, ``extra``, ``context``,
        ``by_alias`` and ``by_name`` are accepted for pydantic's signature and
        change nothing, as on the official models (pydantic hands their input
        to their constructor, which ignores these): validation is always
        strict, unknown keys are always ignored, and fields are read by name.
        """
        del strict, extra, context, by_alias, by_name
        if isinstance(obj, cls):
            return obj
        names = _init_names(cls)
        if isinstance(obj, Mapping):
            values = {name: obj[name] for name in names if name in obj}
        elif from_attributes:
            values = {name: getattr(obj, name) for name in names if hasattr(obj, name)}
        else:
            raise ValidationError(
                cls.__name__,
                [
                    {
                        "type": "model_type",
                        "loc": (),
                        "msg": "Input should be a valid dictionary or instance "
                        f"of {cls.__name__}",
                        "input": obj,
                    }
                ],
            )
        missing = _missing(cls, values)
        if missing:
            raise cls._model_error(cls.__name__, missing)
        return cls(**values)

    @classmethod
    def model_validate_json(
        cls,
        json_data: str | bytes | bytearray,
        *,
        strict: bool | None = None,
        extra: Literal["allow", "ignore", "forbid"] | None = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        by_name: bool | None = None,
    ) -> Self:
        """:meth:`model_validate` of a JSON text; bad JSON raises
        :class:`ValidationError` (``type="json_invalid"``)."""
        try:
            data = loads(json_data)
        except ValueError as err:
            raise ValidationError(
                cls.__name__,
                [
                    {
                        "type": "json_invalid",
                        "loc": (),
                        "msg": f"Invalid JSON: {err}",
                        "input": json_data,
                    }
                ],
            ) from None
        return cls.model_validate(
            data,
            strict=strict,
            extra=extra,
            context=context,
            by_alias=by_alias,
            by_name=by_name,
        )

    def model_copy(
        self, *, update: Mapping[str, Any] | None = None, deep: bool = False
    ) -> Self:
        """A copy with ``update`` applied: the way to "change" a frozen model.

        Unlike pydantic's, the updated values are validated.  Keys that are
        not fields are ignored, as the official models never dump them.
        """
        names = _init_names(type(self))
        changes = {key: value for key, value in (update or {}).items() if key in names}
        source = copy.deepcopy(self) if deep else self
        copied = attrs.evolve(source, **changes)  # type: ignore[misc]
        fields_set = frozenset(self.model_fields_set.union(changes))
        object.__setattr__(copied, "_model_fields_set", fields_set)
        return copied
