"""Memoized step state as middleware sees it: :class:`StepMemos`.

The engine itself reads the call request's ``steps`` object as it arrived
(one dict lookup per step, nothing copied).  Middleware that rewrites memos
(decryption, payloads kept in a store) needs them as objects it can change,
the official SDK's ``StepMemos`` of ``Output``s.  This view is built only
when a request has middleware, and lazily: the memos become objects the
first time middleware asks for them, and until then lookups go straight to
the raw dict.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import attrs

__all__ = ["MemoizedError", "StepMemo", "StepMemos"]


@attrs.define
class MemoizedError:
    """A failed step's error as the server stored it."""

    message: str
    name: str
    stack: str | None = None
    #: Extra data some SDKs attach to an error (``error.data``).
    data: Any = None

    def to_raw(self) -> dict[str, Any]:
        raw: dict[str, Any] = {"name": self.name, "message": self.message}
        if self.stack is not None:
            raw["stack"] = self.stack
        if self.data is not None:
            raw["data"] = self.data
        return raw


@attrs.define
class StepMemo:
    """One memoized step: its output (``data``) or its ``error``.

    Mutable on purpose: middleware assigns ``data`` in ``transform_input``
    and the function then sees the new value when it replays the step.
    """

    data: Any = None
    error: MemoizedError | None = None

    @classmethod
    def from_raw(cls, raw: Any) -> StepMemo:
        """Read a memo as the server sends it.

        ``{"data": x}`` and ``{"error": {...}}`` are envelopes; anything else
        (a finished sleep's ``null``, a matched event) is the value itself,
        the rule :func:`inngest_proto._opcodes.unwrap_memo` applies.
        """
        if type(raw) is not dict or len(raw) > 2:
            return cls(data=raw)
        if not raw:
            return cls()  # an empty envelope: no data, no error
        if set(raw) - {"data", "error"}:
            return cls(data=raw)
        error = raw.get("error")
        if error is None:
            return cls(data=raw.get("data"))
        if (
            type(error) is dict
            and isinstance(error.get("name"), str)
            and isinstance(error.get("message"), str)
        ):
            stack = error.get("stack")
            return cls(
                data=raw.get("data"),
                error=MemoizedError(
                    message=error["message"],
                    name=error["name"],
                    stack=stack if isinstance(stack, str) else None,
                    data=error.get("data"),
                ),
            )
        return cls(data=raw)

    def to_raw(self) -> dict[str, Any]:
        """Back to an envelope, which the engine unwraps to exactly ``data``."""
        if self.error is not None:
            return {"error": self.error.to_raw()}
        return {"data": self.data}


class StepMemos(Mapping[str, Any]):
    """The memoized steps of one call request, keyed by hashed step id.

    The official SDK's API (``size``, ``values()``, ``pop``, ``from_raw``) for
    middleware; as a ``Mapping`` it serves the engine raw memos, rebuilt from
    the objects once middleware has touched them.
    """

    __slots__ = ("_objects", "_raw")

    def __init__(self, memos: Mapping[str, StepMemo]) -> None:
        self._raw: Mapping[str, Any] = {}
        self._objects: dict[str, StepMemo] | None = dict(memos)

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> StepMemos:
        """Wrap a call request's ``steps`` without reading it yet."""
        memos = cls({})
        memos._raw = raw
        memos._objects = None
        return memos

    def _materialized(self) -> dict[str, StepMemo]:
        if self._objects is None:
            self._objects = {k: StepMemo.from_raw(v) for k, v in self._raw.items()}
        return self._objects

    @property
    def size(self) -> int:
        return len(self)

    def values(self) -> Iterator[StepMemo]:  # type: ignore[override]
        """Every memo as a :class:`StepMemo` that may be changed in place."""
        return iter(self._materialized().values())

    def memos(self) -> Iterator[tuple[str, StepMemo]]:
        """``(hashed id, memo)`` pairs, for middleware that needs the ids."""
        return iter(self._materialized().items())

    def pop(self, hashed_id: str) -> StepMemo | None:
        """Remove a memo and return it (``None`` when there is none)."""
        return self._materialized().pop(hashed_id, None)

    def __getitem__(self, hashed_id: str) -> Any:
        if self._objects is None:
            return self._raw[hashed_id]
        return self._objects[hashed_id].to_raw()

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw if self._objects is None else self._objects)

    def __len__(self) -> int:
        return len(self._raw if self._objects is None else self._objects)

    def __repr__(self) -> str:
        return f"StepMemos(size={len(self)})"
