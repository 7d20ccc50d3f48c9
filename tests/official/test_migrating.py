"""docs/migrating.rst's module table: every official module, where it really is.

The table must list each module the parity suite walks (``official_modules``),
name for each the module the import map of differences.rst gives (the one
the parity suite checks name by name), and that module must import.  A
module with no counterpart must be a gap differences.rst lists.  Skipped
where the official packages are absent (they live in the ``official`` tox
env).
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from tests.official.test_parity import (
    counterpart_module,
    documented_gaps,
    official_modules,
)

MIGRATING = Path(__file__).parents[2] / "docs" / "migrating.rst"
ROW = re.compile(r"^``(?P<official>[\w.]+)``\s+(?:``(?P<ours>[\w.]+)``|none: .+)$")


def module_table() -> dict[str, str | None]:
    text = MIGRATING.read_text()
    start = text.index(".. migrating: modules")
    end = text.index(".. migrating: end")
    table: dict[str, str | None] = {}
    for line in text[start:end].splitlines():
        if line.startswith("``"):
            match = ROW.match(line)
            assert match, f"not a row of the module table: {line!r}"
            assert match["official"] not in table, f"{match['official']} twice"
            table[match["official"]] = match["ours"]
    return table


def test_the_table_lists_every_official_module() -> None:
    assert set(module_table()) == set(official_modules())


def test_each_row_is_the_import_map_and_imports() -> None:
    for official, ours in module_table().items():
        if ours is None:
            assert official in documented_gaps(), official
            continue
        assert ours == counterpart_module(official), official
        importlib.import_module(ours)
