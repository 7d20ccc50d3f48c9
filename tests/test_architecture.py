"""Class shape rules for every class in the three packages.

**At most one level of implementation inheritance.**  A class may inherit
code from one concrete class at most: ``class A(Base)`` is fine, and so is
``class A(threading.Thread)``, but ``class A(Base)`` with ``class Base(Helper)``
is not, nor ``class A(Base)`` with ``class Base(argparse.ArgumentParser)``.
Behaviour shared further down is held (composition) or written as functions.

The depth of a class is the longest chain of concrete bases under it:

* a base that is exempt adds nothing;
* a third-party (or standard library) concrete base adds one level, whatever
  it inherits itself (its insides are not ours to shape);
* one of our concrete bases adds one level plus its own depth.

Every class defined in ``inngest_proto``, ``inngest_transports`` and
``inngest_frameworks`` (each module imported through :mod:`pkgutil`; the
generated protobuf module and ``__main__`` modules, which run a program when
imported, aside) must have a depth of at most one.

Exempt, as a base and as the class checked, because they describe a type
rather than lend code, or have a shape the language sets:

* ``object`` and ``typing.Generic`` (a marker for type parameters);
* ``typing.Protocol`` classes;
* pure interfaces: a class whose every own method (dunders aside) is
  abstract, and that has abstract methods or is ``abc.ABC`` itself; an ABC
  that also carries concrete methods counts as a concrete base;
* exceptions (``BaseException`` subclasses): hierarchies there exist so that
  ``except`` can catch a family of errors;
* ``enum.Enum`` subclasses (and their mixins such as ``str``), ``TypedDict``
  and ``NamedTuple`` classes: the standard library builds these.

**No stubs for a sibling to fill in.**  No method in the packages has a body
(after an optional docstring) that only raises ``NotImplementedError``; a
hook with nothing to do is an empty method, and a required one is an
``abc.abstractmethod`` or a ``Protocol``.
"""

from __future__ import annotations

import abc
import ast
import enum
import importlib
import inspect
import pkgutil
import threading
import typing
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

PACKAGES = ("inngest_proto", "inngest_transports", "inngest_frameworks")

#: Generated code, not ours to shape.
SKIPPED_MODULES = frozenset({"inngest_proto.connect.connect_pb2"})

#: The most concrete classes a class may inherit code through.
MAX_DEPTH = 1

ROOT = Path(__file__).parent.parent


def _modules() -> Iterator[ModuleType]:
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        yield package
        for info in pkgutil.walk_packages(package.__path__, f"{package_name}."):
            # ``__main__`` modules run their program when imported.
            last = info.name.rsplit(".", 1)[-1]
            if (
                info.name in SKIPPED_MODULES
                or last in {"__main__"}
                or last.endswith("_pb2")
            ):
                continue
            yield importlib.import_module(info.name)


def _our_classes() -> list[type]:
    found: dict[str, type] = {}
    for module in _modules():
        for value in vars(module).values():
            if inspect.isclass(value) and value.__module__ == module.__name__:
                found[f"{value.__module__}.{value.__qualname__}"] = value
                found.update(_nested(value))
    return [found[name] for name in sorted(found)]


def _nested(cls: type) -> dict[str, type]:
    nested: dict[str, type] = {}
    for value in vars(cls).values():
        if (
            inspect.isclass(value)
            and value.__module__ == cls.__module__
            and value.__qualname__.startswith(f"{cls.__qualname__}.")
        ):
            nested[f"{value.__module__}.{value.__qualname__}"] = value
            nested.update(_nested(value))
    return nested


def _is_ours(cls: type) -> bool:
    return cls.__module__.split(".")[0] in PACKAGES


def _is_pure_interface(cls: type) -> bool:
    if cls is abc.ABC:
        return True
    abstract: frozenset[str] = getattr(cls, "__abstractmethods__", frozenset())
    if not abstract:
        return False
    own_methods = [
        name
        for name, value in vars(cls).items()
        if callable(value) or isinstance(value, property | classmethod | staticmethod)
    ]
    return all(
        name in abstract or (name.startswith("__") and name.endswith("__"))
        for name in own_methods
    )


def _is_exempt(cls: type) -> bool:
    return (
        cls is object
        or cls is typing.Generic
        or getattr(cls, "_is_protocol", False)
        or _is_pure_interface(cls)
        or issubclass(cls, BaseException)
        or issubclass(cls, enum.Enum)
        or typing.is_typeddict(cls)
        or (issubclass(cls, tuple) and hasattr(cls, "_fields"))
    )


def _depth(cls: type) -> int:
    """The longest chain of concrete bases under ``cls`` (see the module doc)."""
    deepest = 0
    for base in cls.__bases__:
        if _is_exempt(base):
            level = 0
        elif not _is_ours(base):
            level = 1
        else:
            level = 1 + _depth(base)
        deepest = max(deepest, level)
    return deepest


def _chain(cls: type) -> str:
    """The concrete bases under ``cls``, for the failure message."""
    links = []
    for base in cls.__mro__[1:]:
        if _is_exempt(base):
            continue
        if not _is_ours(base):
            links.append(f"{base.__module__}.{base.__qualname__}")
            break  # its own bases are not ours to count
        links.append(base.__qualname__)
    return " -> ".join([cls.__qualname__, *links])


def test_every_module_is_walked() -> None:
    # Guards the walk itself: a package whose modules were not found would
    # make the next test pass on nothing.
    names = {module.__name__ for module in _modules()}
    assert "inngest_proto._middleware" in names
    assert "inngest_transports.devserver._cli" in names
    assert "inngest_frameworks.flask" in names


def test_depth_counts_each_level() -> None:
    # The rule itself, on classes made here, so that a mistake in _depth
    # cannot make the real check pass on everything.
    class Helper:
        pass

    class Base(Helper):
        pass

    class Leaf(Base):
        pass

    class Interface(abc.ABC):
        @abc.abstractmethod
        def run(self) -> None: ...

    class Implementation(Interface):
        def run(self) -> None:
            pass

    class Mixed(abc.ABC):
        @abc.abstractmethod
        def run(self) -> None: ...

        def helper(self) -> int:
            return 1

    class FromMixed(Mixed):
        def run(self) -> None:
            pass

    class Thread(threading.Thread):
        pass

    class OnThread(Thread):
        pass

    for cls in (Helper, Base, Leaf, Implementation, FromMixed, Thread, OnThread):
        cls.__module__ = "inngest_proto._made_here"
    assert _depth(Helper) == 0
    assert _depth(Base) == 1
    assert _depth(Leaf) == 2
    assert _depth(Implementation) == 0
    assert _depth(FromMixed) == 1
    assert _depth(Thread) == 1
    assert _depth(OnThread) == 2


def test_at_most_one_level_of_implementation_inheritance() -> None:
    too_deep = [
        _chain(cls)
        for cls in _our_classes()
        if not _is_exempt(cls) and _depth(cls) > MAX_DEPTH
    ]
    assert not too_deep, (
        "more than one level of implementation inheritance:\n" + "\n".join(too_deep)
    )


def _only_raises_not_implemented(
    function: ast.FunctionDef | ast.AsyncFunctionDef,
) -> bool:
    body = list(function.body)
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body = body[1:]
    if len(body) != 1 or not isinstance(body[0], ast.Raise):
        return False
    raised = body[0].exc
    if isinstance(raised, ast.Call):
        raised = raised.func
    return isinstance(raised, ast.Name) and raised.id == "NotImplementedError"


def _stubs(source: str, filename: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.ClassDef):
            continue
        for item in node.body:
            if isinstance(
                item, ast.FunctionDef | ast.AsyncFunctionDef
            ) and _only_raises_not_implemented(item):
                found.append(f"{filename}:{item.lineno} {node.name}.{item.name}")
    return found


def test_stub_scan_finds_stubs() -> None:
    source = (
        "class Base:\n"
        "    def a(self):\n"
        "        '''Doc.'''\n"
        "        raise NotImplementedError\n"
        "    async def b(self):\n"
        "        raise NotImplementedError('fill me in')\n"
        "    def c(self):\n"
        "        if self:\n"
        "            raise NotImplementedError\n"
        "        return 1\n"
    )
    assert _stubs(source, "x.py") == ["x.py:2 Base.a", "x.py:5 Base.b"]


def test_no_method_only_raises_not_implemented() -> None:
    stubs: list[str] = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name.endswith("_pb2.py"):
                continue
            stubs.extend(
                _stubs(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
            )
    assert not stubs, "methods that only raise NotImplementedError:\n" + "\n".join(
        stubs
    )
