"""Every public name of the official SDK has a compatible counterpart here.

An app moves over from the official SDK (``inngest==0.5.19`` with
``inngest-encryption==0.1.0``) by changing its imports, following the import
map in ``docs/differences.rst``.  This suite holds us to it name by name: it
walks the public names of ``inngest``, its framework modules,
``inngest.connect``, ``inngest.experimental`` and each module under it, and
``inngest_encryption``, and checks that the module the map names has each one
with a compatible shape:

* functions and methods: every way the official signature can be called
  (positions, keyword names, defaults) works on ours;
* classes: the constructor likewise, every public member (methods,
  properties, attributes set in ``__init__``), and the official base classes
  mapped to ours (``issubclass``);
* enums: every member, with the same value;
* constants: the same value.

A gap fails unless ``docs/differences.rst`` lists it, with its reason, in the
machine-readable list between ``.. parity: gaps`` and ``.. parity: end``; an
entry that is no longer a gap fails too, so the list cannot go stale.  The
import map is read from the same page, so the documented map is the tested
one.  Skipped where the official packages are absent (they live in the
``official`` tox env).
"""

from __future__ import annotations

import ast
import enum
import functools
import importlib
import inspect
import os
import pkgutil
import re
import textwrap
import types
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import attrs
import pytest

_PYDANTIC_CONFIG = "Support for class-based `config` is deprecated"
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", _PYDANTIC_CONFIG, DeprecationWarning)
    for _name in ("inngest", "inngest_encryption", "pydantic"):
        pytest.importorskip(_name)
    import pydantic

ROOT = Path(__file__).parent.parent.parent
DIFFERENCES = ROOT / "docs" / "differences.rst"

#: The official packages' roots; everything under ``inngest.experimental`` is
#: walked too (see :func:`official_modules`).
ROOTS = (
    "inngest",
    "inngest.connect",
    "inngest.digital_ocean",
    "inngest.django",
    "inngest.fast_api",
    "inngest.flask",
    "inngest.tornado",
    "inngest.experimental",
    "inngest_encryption",
)
#: Top-level packages whose classes count as "official" when collecting members.
OFFICIAL_PACKAGES = ("inngest", "inngest_encryption")
#: Top-level packages whose source we read for attributes set in methods.
OUR_PACKAGES = ("inngest_proto", "inngest_transports", "inngest_frameworks")
_EMPTY = inspect.Parameter.empty
_POSITIONAL = (
    inspect.Parameter.POSITIONAL_ONLY,
    inspect.Parameter.POSITIONAL_OR_KEYWORD,
)
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


# --- what docs/differences.rst says -----------------------------------------


def _block(marker: str) -> list[str]:
    """The lines between ``.. parity: <marker>`` and the next ``.. parity: end``."""
    lines = DIFFERENCES.read_text().splitlines()
    start = lines.index(f".. parity: {marker}") + 1
    end = lines.index(".. parity: end", start)
    return lines[start:end]


@functools.cache
def import_map() -> dict[str, str]:
    """Official module prefix -> ours, from the table in differences.rst."""
    row = re.compile(r"^``([\w.]+)``\s+``([\w.]+)``\s*$")
    found: dict[str, str] = {}
    for line in _block("import map"):
        if match := row.match(line):
            found[match.group(1)] = match.group(2)
    assert "inngest" in found, "the import map in differences.rst lost its rows"
    return found


def _expand(term: str) -> list[str]:
    """``a.{B,C}.d`` -> ``a.B.d``, ``a.C.d`` (every group, left to right)."""
    match = re.search(r"\{([\w.,]+)\}", term)
    if match is None:
        return [term]
    head, tail = term[: match.start()], term[match.end() :]
    return [
        name
        for choice in match.group(1).split(",")
        for name in _expand(head + choice + tail)
    ]


@functools.cache
def documented_gaps() -> dict[str, str]:
    """Qualified official name -> the reason differences.rst gives for it.

    An entry is a line of one or more ````qualified.name```` terms (comma
    separated; ``{A,B}`` stands for each of ``A`` and ``B``) followed by its
    indented reason, as an rst definition list.
    """
    term = r"``[\w.{},]+``"
    gaps: dict[str, str] = {}
    names: list[str] = []
    reason: list[str] = []

    def flush() -> None:
        text = " ".join(reason).strip()
        assert not names or text, f"no reason given for {names}"
        for name in names:
            assert name not in gaps, f"{name} is listed twice"
            gaps[name] = text

    for line in _block("gaps"):
        if line.startswith("``"):
            flush()
            assert re.fullmatch(f"{term}(, {term})*", line), line
            names = [n for t in re.findall(term, line) for n in _expand(t[2:-2])]
            reason = []
        elif line.startswith(" ") and names:
            reason.append(line.strip())
        else:
            assert not line.strip(), f"unexpected line in the parity list: {line!r}"
    flush()
    return gaps


def counterpart_module(official: str) -> str:
    """Our module for the official module ``official``, by the longest prefix."""
    prefixes = [
        p for p in import_map() if official == p or official.startswith(p + ".")
    ]
    assert prefixes, f"no import map entry covers {official}"
    best = max(prefixes, key=len)
    return import_map()[best] + official[len(best) :]


# --- the official side ----------------------------------------------------------


def _import_official(name: str) -> types.ModuleType:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", _PYDANTIC_CONFIG, DeprecationWarning)
        return importlib.import_module(name)


def public_names(module: types.ModuleType) -> list[str]:
    """``__all__``, or else what the module itself defines without a ``_``."""
    declared = getattr(module, "__all__", None)
    if declared is not None:
        return sorted(declared)
    names = []
    for name, value in vars(module).items():
        if name.startswith("_") or isinstance(
            value, types.ModuleType | type(annotations)
        ):
            continue
        defined = getattr(value, "__module__", module.__name__) == module.__name__
        if isinstance(value, type | types.FunctionType) and not defined:
            continue  # imported, not defined here
        names.append(name)
    return sorted(names)


@functools.cache
def official_modules() -> tuple[str, ...]:
    """The roots, and every public module under ``inngest.experimental``.

    A module below a feature package (``mocked.client``) whose public names
    its package re-exports is where the package keeps its code, not an
    import path of its own, and is not walked; one with names of its own
    (``ai.openai``) is.
    """
    found = list(ROOTS)
    experimental = _import_official("inngest.experimental")
    for info in pkgutil.walk_packages(experimental.__path__, "inngest.experimental."):
        parts = info.name.split(".")
        if any(p.startswith("_") or p.endswith("_test") for p in parts):
            continue
        try:
            module = _import_official(info.name)
        except ImportError:
            # An optional dependency is absent: listed, so that module_gaps
            # skips it (or fails, where every module must be compared).
            found.append(info.name)
            continue
        parent = _import_official(info.name.rpartition(".")[0])
        if parent is not experimental and all(
            getattr(parent, n, None) is getattr(module, n) for n in public_names(module)
        ):
            continue
        found.append(info.name)
    return tuple(found)


@functools.cache
def official_index() -> dict[int, str]:
    """``id`` of every official public object -> its qualified public name."""
    index: dict[int, str] = {}
    for module_name in official_modules():
        try:
            module = _import_official(module_name)
        except ImportError:
            continue
        for name in public_names(module):
            value = getattr(module, name)
            if isinstance(value, type | types.FunctionType):
                index.setdefault(id(value), f"{module_name}.{name}")
    return index


def _counterpart(qualname: str) -> Any:
    """Our object for the official public name ``qualname`` (module + attribute)."""
    module_name, _, name = qualname.rpartition(".")
    return getattr(importlib.import_module(counterpart_module(module_name)), name)


# --- members ------------------------------------------------------------------


def _assigned_attributes(cls: type) -> set[str]:
    """Public names a class's methods assign on ``self``."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return set()
    return {
        node.attr
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute)
        and isinstance(node.ctx, ast.Store)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
        and not node.attr.startswith("_")
    }


def _is_from(cls: type, packages: tuple[str, ...]) -> bool:
    return cls.__module__.split(".")[0] in packages


def _pydantic_hooks(cls: type) -> set[str]:
    """A model's validators and serializers: hooks pydantic calls while
    (de)serializing, not an API of the model."""
    decorators = getattr(cls, "__pydantic_decorators__", None)
    if decorators is None:
        return set()
    return {
        name
        for kind in (
            "validators",
            "field_validators",
            "root_validators",
            "field_serializers",
            "model_serializers",
            "model_validators",
        )
        for name in getattr(decorators, kind, {})
    }


def official_members(cls: type) -> dict[str, Any]:
    """Public members the official class offers -> their static value.

    Taken from the classes of its MRO that the official packages define, plus
    pydantic's ``BaseModel`` API for its models (not the v1 names pydantic
    itself deprecates).  Attributes set only in methods map to ``None``.
    """
    members: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if klass is pydantic.BaseModel:
            for name, value in vars(klass).items():
                if name.startswith("_"):
                    continue
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # a deprecated property warns
                    deprecated = hasattr(getattr(klass, name), "__deprecated__")
                if not deprecated:
                    members[name] = value
        elif _is_from(klass, OFFICIAL_PACKAGES):
            for name in _assigned_attributes(klass):
                members.setdefault(name, None)
            for name in getattr(klass, "__annotations__", {}):
                if not name.startswith("_"):
                    members.setdefault(name, None)
            hooks = _pydantic_hooks(klass)
            for name, value in vars(klass).items():
                if not name.startswith("_") and name not in hooks:
                    members[name] = value
    # pydantic's own configuration, not an API of the model.
    members.pop("model_config", None)
    return members


def our_members(cls: type) -> set[str]:
    names = set(dir(cls))
    if attrs.has(cls):
        names |= {field.name for field in attrs.fields(cls)}
    for klass in cls.__mro__:
        names |= set(getattr(klass, "__annotations__", {}))
        if _is_from(klass, OUR_PACKAGES):
            names |= _assigned_attributes(klass)
    return names


# --- signatures -----------------------------------------------------------------


def _signature(fn: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def _attrs_default(cls: Any, name: str) -> Any:
    """An attrs ``factory=`` default, made (shown as ``NOTHING`` in signatures)."""
    if isinstance(cls, type) and attrs.has(cls):
        for field in attrs.fields(cls):
            default: Any = field.default
            factory = isinstance(default, attrs.Factory)  # type: ignore[arg-type]
            if name in (field.name, field.alias) and factory and not default.takes_self:
                return default.factory()
    return attrs.NOTHING


def _private_official(value: Any) -> bool:
    """A default no caller can pass: an official object that is not public."""
    cls = value if isinstance(value, type) else type(value)
    return _is_from(cls, OFFICIAL_PACKAGES) and id(cls) not in official_index()


def _same_default(theirs: Any, ours: Any) -> bool:
    if isinstance(theirs, enum.Enum) or isinstance(ours, enum.Enum):
        return bool(getattr(theirs, "value", theirs) == getattr(ours, "value", ours))
    try:
        return bool(theirs == ours) and type(theirs) is type(ours)
    except Exception:  # a default whose __eq__ refuses to compare differs
        return False


def _official_signature(fn: Any) -> inspect.Signature | None:
    """The official signature as callers can use it.

    A pydantic model's constructor shows ``*args`` but refuses positional
    arguments, and shows a ``default_factory`` as a placeholder: the
    signature has neither, and the factory's value as the default.
    """
    signature = _signature(fn)
    if signature is None or not (
        isinstance(fn, type) and issubclass(fn, pydantic.BaseModel)
    ):
        return signature
    params = []
    for param in signature.parameters.values():
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        field = fn.model_fields.get(param.name)
        if field is not None and field.default_factory is not None:
            default = field.default_factory()  # type: ignore[call-arg]
            params.append(param.replace(default=default))
        else:
            params.append(param)
    return signature.replace(parameters=params)


def signature_problems(theirs: Any, ours: Any) -> list[str]:
    """How a call the official signature accepts would fail on ours."""
    official = _official_signature(theirs)
    if official is None:
        return []
    mine = _signature(ours)
    if mine is None:
        return ["ours has no inspectable signature"]
    problems: list[str] = []
    off_params = list(official.parameters.values())
    our_params = mine.parameters
    off_pos = [p for p in off_params if p.kind in _POSITIONAL]
    our_pos = [p for p in our_params.values() if p.kind in _POSITIONAL]
    our_kinds = {p.kind for p in our_params.values()}

    def default_of(param: inspect.Parameter) -> Any:
        if param.default is attrs.NOTHING:
            return _attrs_default(ours, param.name)
        return param.default

    def check_default(p: inspect.Parameter, q: inspect.Parameter) -> None:
        if p.default is _EMPTY:
            return
        if q.default is _EMPTY:
            problems.append(
                f"{p.name} is optional ({p.default!r}) there, required here"
            )
        elif _private_official(p.default):
            return  # a sentinel for "not given": any default of ours will do
        elif not _same_default(p.default, default_of(q)):
            problems.append(
                f"{p.name} defaults to {p.default!r}, ours to {q.default!r}"
            )

    for i, p in enumerate(off_pos):
        if i >= len(our_pos):
            if inspect.Parameter.VAR_POSITIONAL not in our_kinds:
                problems.append(f"positional parameter {i} ({p.name}) is missing")
            elif p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and (
                inspect.Parameter.VAR_KEYWORD not in our_kinds
            ):
                problems.append(f"{p.name} cannot be passed by keyword")
            continue
        q = our_pos[i]
        if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD:
            if q.name != p.name:
                problems.append(f"positional parameter {i} is {p.name}, ours {q.name}")
                continue
            if q.kind is inspect.Parameter.POSITIONAL_ONLY:
                problems.append(f"{p.name} cannot be passed by keyword")
        check_default(p, q)
    for p in off_params:
        if p.kind is not inspect.Parameter.KEYWORD_ONLY:
            continue
        named = our_params.get(p.name)
        if named is None or named.kind not in (
            inspect.Parameter.KEYWORD_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            problems.append(f"keyword argument {p.name} is missing")
            continue
        check_default(p, named)
    for kind, word in zip(_VARIADIC, ("*args", "**kwargs"), strict=True):
        if any(p.kind is kind for p in off_params) and kind not in our_kinds:
            problems.append(f"it takes {word}, ours does not")
    # Nothing may be required here that a call there can leave out.
    off_required = {p.name for p in off_params if p.default is _EMPTY}
    for i, q in enumerate(our_pos):
        if q.default is not _EMPTY:
            continue
        covered = i < len(off_pos) and off_pos[i].default is _EMPTY
        if not covered and q.name not in off_required:
            problems.append(f"ours requires {q.name}")
    for q in our_params.values():
        keyword_only = q.kind is inspect.Parameter.KEYWORD_ONLY
        if keyword_only and q.default is _EMPTY and q.name not in off_required:
            problems.append(f"ours requires keyword {q.name}")
    return problems


# --- comparing -----------------------------------------------------------------

Gaps = dict[str, list[str]]


def _callable_member(value: Any) -> bool:
    return isinstance(value, types.FunctionType | classmethod | staticmethod)


def class_gaps(qualname: str, theirs: type, ours: Any, gaps: Gaps) -> None:
    if not isinstance(ours, type):
        gaps.setdefault(qualname, []).append(
            f"ours is {type(ours).__name__}, not a class"
        )
        return
    if issubclass(theirs, enum.Enum):
        if not issubclass(ours, enum.Enum):
            gaps.setdefault(qualname, []).append("ours is not an enum")
            return
        for key, official_member in theirs.__members__.items():
            our_member = ours.__members__.get(key)
            if our_member is None:
                gaps.setdefault(f"{qualname}.{key}", []).append("member is missing")
            elif our_member.value != official_member.value:
                gaps.setdefault(f"{qualname}.{key}", []).append(
                    f"value {official_member.value!r}, ours {our_member.value!r}"
                )
        return
    problems = gaps.setdefault(qualname, [])
    for base in theirs.__mro__[1:]:
        if base is object:
            continue
        if base.__module__ == "builtins":
            if not issubclass(ours, base):
                problems.append(f"not a subclass of {base.__name__}")
        elif getattr(base, "_is_protocol", False):
            continue  # structural: its members are checked below
        elif (base_name := official_index().get(id(base))) is not None:
            try:
                our_base = _counterpart(base_name)
            except AttributeError:
                continue  # reported as missing under its own name
            if not (isinstance(our_base, type) and issubclass(ours, our_base)):
                problems.append(f"not a subclass of the counterpart of {base_name}")
    if not getattr(theirs, "_is_protocol", False):
        problems.extend(f"constructor: {p}" for p in signature_problems(theirs, ours))
    if not problems:
        del gaps[qualname]
    member_gaps(qualname, theirs, ours, gaps)


def member_gaps(qualname: str, theirs: type, ours: type, gaps: Gaps) -> None:
    """Gaps among the public members of an official class and of ours."""
    mine = our_members(ours)
    for name, value in sorted(official_members(theirs).items()):
        member = f"{qualname}.{name}"
        if name not in mine:
            gaps.setdefault(member, []).append("member is missing")
        elif _callable_member(value):
            problems = signature_problems(getattr(theirs, name), getattr(ours, name))
            if problems:
                gaps.setdefault(member, []).extend(problems)
        elif _callable_member(inspect.getattr_static(ours, name, None)):
            # Read as an attribute there, so ``obj.name`` must not be a method.
            gaps.setdefault(member, []).append("an attribute there, a method here")
        elif isinstance(value, enum.Enum):
            ours_value = inspect.getattr_static(ours, name, None)
            if not isinstance(ours_value, enum.Enum) or ours_value.value != value.value:
                gaps.setdefault(member, []).append(
                    f"is {value!r}, ours {ours_value!r} (want the same enum value)"
                )


def value_gaps(qualname: str, theirs: Any, ours: Any, gaps: Gaps) -> None:
    if isinstance(theirs, types.ModuleType):
        if not isinstance(ours, types.ModuleType):
            gaps.setdefault(qualname, []).append("ours is not a module")
    elif isinstance(theirs, type):
        class_gaps(qualname, theirs, ours, gaps)
    elif callable(theirs):
        problems = signature_problems(theirs, ours)
        if problems:
            gaps.setdefault(qualname, []).extend(problems)
    elif _is_from(type(theirs), OFFICIAL_PACKAGES) and not isinstance(
        theirs, enum.Enum
    ):
        # An instance of a private class (``dev_server.server``): what matters
        # is what it offers.
        member_gaps(qualname, type(theirs), type(ours), gaps)
    elif isinstance(theirs, enum.Enum | str | int | float | bool) and not (
        _same_default(theirs, ours)
    ):
        gaps.setdefault(qualname, []).append(f"is {theirs!r}, ours {ours!r}")


def _skip(reason: str) -> NoReturn:
    """Skip a module whose dependencies are absent, unless every module must
    be compared (``INNGEST_PARITY_COMPLETE=1``, set by the ``official`` env)."""
    if os.environ.get("INNGEST_PARITY_COMPLETE") == "1":
        pytest.fail(f"{reason} (INNGEST_PARITY_COMPLETE=1: install it)")
    pytest.skip(reason)


def module_gaps(official_name: str) -> Gaps:
    """Every gap between one official module and ours, by qualified name."""
    try:
        official = _import_official(official_name)
    except ImportError as e:
        _skip(f"{official_name} cannot be imported here: {e}")
    ours_name = counterpart_module(official_name)
    gaps: Gaps = {}
    try:
        ours = importlib.import_module(ours_name)
    except ModuleNotFoundError as e:
        if e.name is not None and not ours_name.startswith(e.name):
            _skip(f"{ours_name} needs {e.name}, absent here")
        return {official_name: [f"{ours_name} does not exist"]}
    for name in public_names(official):
        qualname = f"{official_name}.{name}"
        if not hasattr(ours, name):
            gaps[qualname] = [f"{ours_name}.{name} does not exist"]
            continue
        value_gaps(qualname, getattr(official, name), getattr(ours, name), gaps)
    return gaps


def _documented_under(module_name: str) -> set[str]:
    """Documented gaps that belong to this module (not to a module below it)."""
    deeper = [m for m in official_modules() if m.startswith(module_name + ".")]
    return {
        name
        for name in documented_gaps()
        if (name == module_name or name.startswith(module_name + "."))
        and not any(name == m or name.startswith(m + ".") for m in deeper)
    }


def all_gaps() -> Gaps:
    """Every gap of every module, to look at them all by hand."""
    gaps: Gaps = {}
    for module_name in official_modules():
        try:
            gaps.update(module_gaps(module_name))
        except pytest.skip.Exception:
            continue
    return gaps


def _report(gaps: Gaps, names: set[str]) -> Iterator[str]:
    for name in sorted(names):
        yield f"{name}: {'; '.join(gaps[name])}"


@pytest.mark.parametrize("module_name", official_modules())
def test_every_official_name_has_a_compatible_counterpart(module_name: str) -> None:
    gaps = module_gaps(module_name)
    documented = _documented_under(module_name)
    undocumented = set(gaps) - documented
    assert not undocumented, (
        "official names with no compatible counterpart; fix them or list them "
        "in docs/differences.rst (.. parity: gaps):\n"
        + "\n".join(_report(gaps, undocumented))
    )
    stale = documented - set(gaps)
    assert not stale, f"listed in docs/differences.rst but no longer gaps: {stale}"


def test_every_documented_gap_names_a_walked_module() -> None:
    modules = official_modules()
    strays = {
        name
        for name in documented_gaps()
        if not any(name == m or name.startswith(m + ".") for m in modules)
    }
    assert not strays


def test_the_import_map_names_modules_of_ours() -> None:
    for official, ours in import_map().items():
        assert official.split(".")[0] in OFFICIAL_PACKAGES, official
        assert ours.split(".")[0] in OUR_PACKAGES, ours


# --- the checker itself -----------------------------------------------------------


def test_brace_groups_expand_to_each_name() -> None:
    assert _expand("a.{B,C}.{d,e}") == ["a.B.d", "a.B.e", "a.C.d", "a.C.e"]
    assert _expand("a.b") == ["a.b"]


def _f_official(a: int, b: str = "x", *, c: bool = False) -> None: ...


@pytest.mark.parametrize(
    ("ours", "problem"),
    [
        (lambda a, b="x", *, c=False, d=None: None, None),
        (lambda a, b="x", c=False: None, None),
        (lambda a, bee="x", *, c=False: None, "positional parameter 1 is b, ours bee"),
        (lambda a, b="y", *, c=False: None, "b defaults to 'x'"),
        (lambda a, b, *, c=False: None, "b is optional"),
        (lambda a, b="x": None, "keyword argument c is missing"),
        (lambda a, b="x", *, c=False, d: None, "ours requires keyword d"),
        (lambda a, /, b="x", *, c=False: None, "a cannot be passed by keyword"),
        (lambda *args, c=False: None, "a cannot be passed by keyword"),
        (lambda *args, c=False, **kwargs: None, None),
    ],
)
def test_signature_problems_catch_each_incompatibility(
    ours: Callable[..., Any], problem: str | None
) -> None:
    found = signature_problems(_f_official, ours)
    if problem is None:
        assert found == []
    else:
        assert any(p.startswith(problem) for p in found), found
