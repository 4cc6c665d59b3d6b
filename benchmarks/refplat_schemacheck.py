"""What a schema check costs the reference platform: per document, on the schemas of its hot path.

Every listing decision checks one regulator answer, every event one status-change event, every
creation one request body. Prints the import and compile time, then per schema the cost of
``is_valid`` on a valid example and of the first error message of an invalid one. Run:

    .venv/bin/python benchmarks/refplat_schemacheck.py [--repeat 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

HOT = ("verification-answer", "status-change-event", "listing-create")


def per_call(check: Any, doc: Any, repeat: int) -> float:
    """Microseconds a call, the best of three rounds (the machine is shared)."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(repeat):
            check(doc)
        best = min(best, (time.perf_counter() - started) / repeat)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20000)
    args = parser.parse_args()
    started = time.perf_counter()
    from reference_platform.config import Schemas, specs_dir
    imported = time.perf_counter()
    schemas = Schemas(specs_dir())
    for name in HOT:
        schemas.validator(name)
    compiled = time.perf_counter()
    print(f"import {1e3 * (imported - started):.0f} ms, registry and {len(HOT)} schemas compiled in "
          f"{1e3 * (compiled - imported):.0f} ms")
    examples = specs_dir() / "examples" / "valid"
    for name in HOT:
        doc = json.loads(sorted((examples / name).glob("*.json"))[0].read_text(encoding="utf-8"))
        invalid = {k: v for k, v in doc.items() if k != next(iter(doc))}   # a required member missing
        valid_us = per_call(lambda d, n=name: schemas.is_valid(n, d), doc, args.repeat)
        error_us = per_call(lambda d, n=name: schemas.errors(n, d), invalid, max(1, args.repeat // 4))
        print(f"{name:22} is_valid {valid_us:6.1f} µs   first error {error_us:6.1f} µs")


if __name__ == "__main__":
    main()
