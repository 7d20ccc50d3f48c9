"""``inngest-dev``'s configuration file: the flags, written down.

``inngest.json`` or ``inngest.yaml`` (``.yml``) in the working directory, or
the file ``--config`` names, holds an object whose keys are the long flags'
names without the dashes (``port``, ``sdk-url``; ``sdk_url`` works too) and
whose values are what the flag takes: a string or a number, ``true`` for a
switch (``no-poll: true``), a list for a repeatable flag (``sdk-url``,
``allow-host``, ``event-key``; one string is a list of one).  The values are
checked as the command line's are, so a bad one is refused with the same
message.  Flags given on the command line win over the file.
"""

from __future__ import annotations

import argparse
import importlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["ConfigError", "Repeated", "config_tokens", "find_config", "read_config"]

#: Looked for, in this order, in the working directory when ``--config`` is not given.
CONFIG_NAMES = ("inngest.json", "inngest.yaml", "inngest.yml")
#: Flags that only make sense on the command line.
_NOT_IN_FILE = frozenset({"help", "version", "config"})


class ConfigError(Exception):
    """The configuration file cannot be used; the message says why."""


class Repeated(argparse.Action):
    """A repeatable flag (``-u A -u B``) whose command-line values replace
    the configuration file's rather than add to them."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("default", [])
        super().__init__(option_strings, dest, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        current = getattr(namespace, self.dest)
        # Still the default (the file's list, or []): the first use here.
        kept = [] if current is self.default else list(current)
        setattr(namespace, self.dest, [*kept, values])


def find_config(explicit: str | None, cwd: Path) -> Path | None:
    """The file to read: ``--config``'s, else the one in ``cwd``, else none."""
    if explicit is not None:
        return Path(explicit)
    found = [cwd / name for name in CONFIG_NAMES if (cwd / name).is_file()]
    if len(found) > 1:
        names = " and ".join(path.name for path in found)
        msg = f"both {names} are here: choose one with --config"
        raise ConfigError(msg)
    return found[0] if found else None


def read_config(path: Path) -> Mapping[str, Any]:
    """The file's object; :class:`ConfigError` if it is not one."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        msg = f"cannot read {path}: {err}"
        raise ConfigError(msg) from None
    if path.suffix in (".yaml", ".yml"):
        content = _load_yaml(path, text)
    else:
        try:
            content = json.loads(text)
        except ValueError as err:
            msg = f"{path} is not valid JSON: {err}"
            raise ConfigError(msg) from None
    if content is None:
        return {}  # an empty YAML file
    if not isinstance(content, dict):
        msg = f"{path} must hold an object of flag names and values"
        raise ConfigError(msg)
    return content


def _load_yaml(path: Path, text: str) -> Any:
    try:
        # Imported by name: PyYAML is optional and ships no type hints.
        yaml = importlib.import_module("yaml")
    except ImportError:
        msg = (
            f"reading {path} needs PyYAML, which is not installed: "
            "pip install pyyaml, or write the same keys in inngest.json"
        )
        raise ConfigError(msg) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        # PyYAML's message spans lines (with a caret under the column).
        msg = f"{path} is not valid YAML: {' '.join(str(err).split())}"
        raise ConfigError(msg) from None


def config_tokens(
    parser: argparse.ArgumentParser, content: Mapping[str, Any], path: Path
) -> list[str]:
    """The command line ``content`` stands for, for ``parser`` to check."""
    flags = {
        option.removeprefix("--"): action
        for action in parser._actions  # argparse has no public list
        for option in action.option_strings
        if option.startswith("--")
    }
    tokens: list[str] = []
    for key, value in content.items():
        name = str(key).replace("_", "-")
        action = flags.get(name)
        if action is None or name in _NOT_IN_FILE:
            msg = f"{path}: unknown key {key!r}"
            raise ConfigError(msg)
        flag = f"--{name}"
        if action.nargs == 0:  # a switch
            if not isinstance(value, bool):
                msg = f"{path}: {key} must be true or false, not {value!r}"
                raise ConfigError(msg)
            if value:
                tokens.append(flag)
            continue
        repeatable = isinstance(action, Repeated)
        values = value if repeatable and isinstance(value, list) else [value]
        for one in values:
            if isinstance(one, bool) or not isinstance(one, str | int | float):
                kind = "strings" if repeatable else "a string or a number"
                msg = f"{path}: {key} must be {kind}, not {one!r}"
                raise ConfigError(msg)
            tokens.extend([flag, str(one)])
    return tokens
