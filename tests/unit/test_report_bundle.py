"""Signed bundles: keygen, MANIFEST.sig, and `verify` naming every change."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.cli import main
from conformance.report import bundle_signature as sig
from conformance.report.manifest import write_manifest
from conformance.report.verify import verify_bundle


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    return sig.generate_keypair(tmp_path / "keys")


@pytest.fixture
def bundle(tmp_path: Path, keys: tuple[Path, Path]) -> Path:
    folder = tmp_path / "run"
    (folder / "evidence").mkdir(parents=True)
    (folder / "report.json").write_text('{"overall": {"verdict": "NON_CONFORMANT"}}', encoding="utf-8")
    (folder / "evidence" / "t.json").write_text("{}", encoding="utf-8")
    write_manifest(folder)
    sig.sign_manifest(folder, sig.load_private_key(keys[0]))
    return folder


def _run(*argv: str) -> int:
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    return int(exc.value.code)


def test_private_key_is_owner_only_and_not_overwritten(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    assert keys[0].stat().st_mode & 0o077 == 0
    with pytest.raises(sig.SigningKeyError, match="already exists"):
        sig.generate_keypair(keys[0].parent)


def test_untouched_signed_bundle_verifies(bundle: Path, keys: tuple[Path, Path]) -> None:
    result = verify_bundle(bundle, keys[1])
    assert result.ok, result.lines()
    assert result.fingerprint == sig.fingerprint(sig.load_public_key(keys[1]))
    assert _run("verify", str(bundle), "--public-key", str(keys[1])) == 0


def test_one_byte_change_is_named(bundle: Path, keys: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    path = bundle / "report.json"
    data = bytearray(path.read_bytes())
    data[data.index(b"NON_")] = ord("n")
    path.write_bytes(bytes(data))
    assert verify_bundle(bundle, keys[1]).changed == ["report.json"]
    assert _run("verify", str(bundle), "--public-key", str(keys[1])) == 1
    assert "changed: report.json" in capsys.readouterr().out


def test_added_and_removed_files_are_named(bundle: Path, keys: tuple[Path, Path]) -> None:
    (bundle / "evidence" / "t.json").unlink()
    (bundle / "evidence" / "forged.json").write_text("{}", encoding="utf-8")
    result = verify_bundle(bundle, keys[1])
    assert (result.added, result.removed, result.changed) == (["evidence/forged.json"], ["evidence/t.json"], [])


def test_rehashed_manifest_breaks_the_signature(bundle: Path, keys: tuple[Path, Path]) -> None:
    """The attack the signature exists for: edit a verdict, then re-hash."""
    (bundle / "report.json").write_text('{"overall": {"verdict": "CONFORMANT"}}', encoding="utf-8")
    write_manifest(bundle)
    result = verify_bundle(bundle, keys[1])
    assert not result.changed
    assert result.signature_problem and "bad signature" in result.signature_problem


def test_signature_by_another_key_is_refused(bundle: Path, tmp_path: Path) -> None:
    _, other_public = sig.generate_keypair(tmp_path / "other")
    assert "bad signature" in (verify_bundle(bundle, other_public).signature_problem or "")


def test_corrupt_or_missing_signature(bundle: Path, keys: tuple[Path, Path]) -> None:
    (bundle / sig.SIGNATURE).write_text("not base64!\n", encoding="ascii")
    assert "not a base64 signature" in (verify_bundle(bundle, keys[1]).signature_problem or "")
    (bundle / sig.SIGNATURE).unlink()
    assert "missing" in (verify_bundle(bundle, keys[1]).signature_problem or "")


def test_bad_input_is_one_line_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("verify", str(tmp_path / "nope")) == 3
    (tmp_path / "junk.pem").write_text("junk", encoding="utf-8")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "MANIFEST.sha256").write_text("", encoding="utf-8")
    assert _run("verify", str(tmp_path / "run"), "--public-key", str(tmp_path / "junk.pem")) == 3
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 2 and "Traceback" not in err


def test_keygen_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("keygen", "--out", str(tmp_path / "k")) == 0
    assert "SHA256:" in capsys.readouterr().out
    assert _run("keygen", "--out", str(tmp_path / "k")) == 3


def test_manifest_naming_files_outside_the_folder_is_refused(bundle: Path) -> None:
    from conformance.report.verify import BundleError

    manifest = bundle / "MANIFEST.sha256"
    manifest.write_text(manifest.read_text(encoding="utf-8") + "0" * 64 + "  ../../etc/passwd\n", encoding="utf-8")
    with pytest.raises(BundleError, match="not inside the report folder"):
        verify_bundle(bundle)
