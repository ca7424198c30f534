"""Run every benchmark suite in turn (`uv run python -m benchmarks [NAME ...]`)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main(names: list[str]) -> int:
    """Import each suite module and call its `main()`."""
    here = Path(__file__).parent
    modules = sorted(
        m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_")
    )
    chosen = names or [m for m in modules if m != "harness"]
    unknown = [n for n in chosen if n not in modules]
    if unknown:
        print(f"unknown suite(s): {', '.join(unknown)}; known: {', '.join(modules)}")
        return 2
    for name in chosen:
        print(f"\n=== {name} ===", flush=True)
        importlib.import_module(f"benchmarks.{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
