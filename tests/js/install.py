"""Install the TypeScript SDK for the ``js`` suites: ``npm ci`` in tests/js/app.

Run by the ``js`` tox env before its tests (``python -m tests.js.install``).
Exits non-zero with one readable line when Node.js 20+ or npm is missing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

from tests.js._jsapp import APP_DIR, node_problem


def main() -> int:
    problem = node_problem()
    npm = shutil.which("npm")
    if problem is None and npm is None:
        problem = "npm is not installed: `npm` is not on PATH"
    if problem is not None or npm is None:
        print(f"tests/js cannot run: {problem}", file=sys.stderr)
        return 1
    # npm records what it installed; newer than the lock file: nothing to do
    # (`npm ci` would delete node_modules and download it all again).
    installed = APP_DIR / "node_modules" / ".package-lock.json"
    lock = APP_DIR / "package-lock.json"
    if installed.is_file() and installed.stat().st_mtime >= lock.stat().st_mtime:
        print("tests/js: the TypeScript SDK is installed (node_modules is up to date)")
        return 0
    # The lock file pins every package; none needs its install script.
    cmd = [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"]
    done = subprocess.run(cmd, cwd=APP_DIR, check=False)
    if done.returncode != 0:
        print(f"tests/js: `npm ci` in {APP_DIR} failed", file=sys.stderr)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
