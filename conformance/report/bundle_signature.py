"""Ed25519 keys and the detached ``MANIFEST.sig`` over ``MANIFEST.sha256``.

The manifest already pins every file of a report folder by SHA-256; signing the manifest alone is
enough for a regulator to know, offline, that nothing was edited after the run. Keys are PEM:
PKCS#8 for the private key (unencrypted, so CI can use a secret file), SubjectPublicKeyInfo for the
public one. The fingerprint is the SHA-256 of the raw 32-byte public key, hex, shown in reports so a
reader can match it against the key the platform registered.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from conformance.report.manifest import MANIFEST, SIGNATURE
from conformance.report.options import OptionError

__all__ = ["SIGNATURE", "SigningKeyError", "check_signature", "fingerprint", "generate_keypair"]
PUBLIC_KEY_COPY = "signer-public-key.pem"  # shipped in the bundle for convenience; trust comes from --public-key
PRIVATE_KEY_FILE = "ccc-report-signing.key"
PUBLIC_KEY_FILE = "ccc-report-signing.pub.pem"


class SigningKeyError(OptionError):
    """A key file that is missing, unreadable or not an Ed25519 key: one line for the user."""


def generate_keypair(out_dir: Path) -> tuple[Path, Path]:
    """Write a new private and public PEM into ``out_dir``; refuse to overwrite an existing key."""
    out_dir.mkdir(parents=True, exist_ok=True)
    private_path, public_path = out_dir / PRIVATE_KEY_FILE, out_dir / PUBLIC_KEY_FILE
    for p in (private_path, public_path):
        if p.exists():
            raise SigningKeyError(f"{p} already exists; choose another --out or remove it first")
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    # Created 0600 from the start, so the private key is never readable by others even briefly.
    fd = private_path.open("xb")
    try:
        private_path.chmod(0o600)
        fd.write(private_pem)
    finally:
        fd.close()
    public_path.write_bytes(public_pem(key.public_key()))
    return private_path, public_path


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise SigningKeyError(f"{path}: signing key not found (make one with `ccc-conformance keygen --out DIR`)") from None
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise SigningKeyError(f"{path}: not an unencrypted PEM private key "
                              "(make one with `ccc-conformance keygen --out DIR`)") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path}: not an Ed25519 key (make one with `ccc-conformance keygen --out DIR`)")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SigningKeyError(f"{path}: public key not found") from None
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        # A private key given where the public one was expected still identifies the signer.
        try:
            key = serialization.load_pem_private_key(data, password=None).public_key()
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise SigningKeyError(f"{path}: not a PEM public key (the signer's .pub.pem from `keygen`)") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{path}: not an Ed25519 public key")
    return key


def fingerprint(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "SHA256:" + hashlib.sha256(raw).hexdigest()


def sign_manifest(folder: Path, key: Ed25519PrivateKey) -> Path:
    """Write MANIFEST.sig: the base64 Ed25519 signature of MANIFEST.sha256's exact bytes."""
    signature = key.sign((folder / MANIFEST).read_bytes())
    out = folder / SIGNATURE
    out.write_text(base64.b64encode(signature).decode("ascii") + "\n", encoding="ascii")
    return out


def check_signature(folder: Path, key: Ed25519PublicKey) -> str | None:
    """None when MANIFEST.sig is a valid signature of MANIFEST.sha256 by ``key``; else the problem."""
    sig_path = folder / SIGNATURE
    if not sig_path.is_file():
        return f"{SIGNATURE}: missing (the bundle is not signed)"
    try:
        signature = base64.b64decode(sig_path.read_text(encoding="ascii").strip(), validate=True)
    except (ValueError, UnicodeDecodeError):
        return f"{SIGNATURE}: not a base64 signature"
    try:
        key.verify(signature, (folder / MANIFEST).read_bytes())
    except InvalidSignature:
        return f"{SIGNATURE}: bad signature (the manifest was changed, or signed by another key)"
    return None
