"""MANIFEST.sha256: every file of a report folder with its SHA-256, in ``sha256sum -c`` format."""

from __future__ import annotations

import hashlib
from pathlib import Path

MANIFEST = "MANIFEST.sha256"
SIGNATURE = "MANIFEST.sig"  # detached signature over MANIFEST (bundle_signature.py); never listed in it


def write_manifest(folder: Path) -> Path:
    lines = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()
                         and p.relative_to(folder).as_posix() not in (MANIFEST, SIGNATURE)):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        lines.append(f"{digest}  {path.relative_to(folder).as_posix()}")
    out = folder / MANIFEST
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def verify_manifest(folder: Path) -> list[str]:
    """Problems found (missing or changed files); empty when the folder matches its manifest."""
    problems = []
    for line in (folder / MANIFEST).read_text(encoding="utf-8").splitlines():
        digest, _, name = line.partition("  ")
        path = folder / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            problems.append(f"{name}: changed")
    return problems
