"""``ccc-conformance verify RUN_DIR``: is this report folder exactly what the run wrote, and signed?

Offline and platform-free: it reads MANIFEST.sha256, hashes every file, names each file added,
removed or changed, then checks MANIFEST.sig with the signer's public key. Without ``--public-key``
the key shipped in the bundle is used, which proves integrity but not who signed; the output says so.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from conformance.report import bundle_signature as sig
from conformance.report.manifest import MANIFEST
from conformance.report.options import OptionError

# Files that the manifest cannot list: itself and the signature over it.
_UNLISTED = {MANIFEST, sig.SIGNATURE}


@dataclass
class Verification:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    signature_problem: str | None = None
    fingerprint: str | None = None
    key_source: str = ""
    files: int = 0

    @property
    def ok(self) -> bool:
        return not (self.added or self.removed or self.changed or self.signature_problem)

    def lines(self) -> list[str]:
        out = [f"added: {n}" for n in self.added] + [f"removed: {n}" for n in self.removed]
        out += [f"changed: {n}" for n in self.changed]
        if self.signature_problem:
            out.append(self.signature_problem)
        return out


class BundleError(OptionError):
    """The folder is not a report bundle at all: one line, exit 3."""


def read_manifest(folder: Path) -> dict[str, str]:
    path = folder / MANIFEST
    if not folder.is_dir():
        raise BundleError(f"{folder}: not a folder")
    if not path.is_file():
        raise BundleError(f"{folder}: no {MANIFEST}; is this a ccc-conformance report folder?")
    entries: dict[str, str] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64:
            raise BundleError(f"{path}:{n}: not a `sha256sum` line")
        if name.startswith("/") or ".." in Path(name).parts:
            raise BundleError(f"{path}:{n}: {name!r} is not inside the report folder")
        entries[name] = digest
    return entries


def verify_bundle(folder: Path, public_key: Path | None = None) -> Verification:
    entries = read_manifest(folder)
    result = Verification(files=len(entries))
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - _UNLISTED
    result.added = sorted(on_disk - entries.keys())
    result.removed = sorted(entries.keys() - on_disk)
    for name in sorted(entries.keys() & on_disk):
        if hashlib.sha256((folder / name).read_bytes()).hexdigest() != entries[name]:
            result.changed.append(name)
    if public_key is not None:
        key = sig.load_public_key(public_key)
        result.key_source = str(public_key)
    elif (folder / sig.PUBLIC_KEY_COPY).is_file():
        key = sig.load_public_key(folder / sig.PUBLIC_KEY_COPY)
        result.key_source = f"{sig.PUBLIC_KEY_COPY} shipped in the bundle (proves integrity, not who signed)"
    else:
        key = None
    if key is None:
        result.signature_problem = (f"{sig.SIGNATURE}: missing (the bundle is not signed)"
                                    if not (folder / sig.SIGNATURE).is_file()
                                    else "no public key: pass --public-key FILE")
    else:
        result.fingerprint = sig.fingerprint(key)
        result.signature_problem = sig.check_signature(folder, key)
    return result
