"""``inngest_proto.experimental.ai`` as a package: its provider modules."""

from __future__ import annotations

import subprocess
import sys

PROVIDERS = ["anthropic", "deepseek", "gemini", "grok", "openai"]


def test_provider_modules_are_attributes_after_importing_the_package() -> None:
    # A fresh interpreter: in this one another test may have imported the
    # submodules already, which would make the attributes exist regardless.
    code = "import inngest_proto.experimental.ai as ai; " + "; ".join(
        f"print(ai.{p}.Adapter.__module__)" for p in PROVIDERS
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    )
    assert out.stdout.split() == [
        f"inngest_proto.experimental.ai.{p}" for p in PROVIDERS
    ]
