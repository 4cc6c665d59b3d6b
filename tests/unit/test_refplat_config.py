"""What the platform reads from specs/ and its ICS, and how its command line fails."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from reference_platform import faults
from reference_platform.__main__ import main, parser, settings_from
from reference_platform.config import (
    ConfigError,
    Schemas,
    load_catalogue_schemes,
    load_ics,
    load_terminology,
    specs_dir,
)

SPECS = specs_dir()


def test_specs_are_found_in_the_checkout_or_where_the_environment_says(monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:
    monkeypatch.delenv("CCC_SPECS_DIR", raising=False)
    assert (specs_dir() / "profile.yaml").is_file()
    copy = tmp_path / "specs"
    shutil.copytree(SPECS, copy)
    monkeypatch.setenv("CCC_SPECS_DIR", str(copy))
    assert specs_dir() == copy


def test_terminology() -> None:
    terms = load_terminology(SPECS)
    assert terms.valid_status == "VALID"
    assert terms.reason_for_status["SUSPENDED"] == "CERT_SUSPENDED"
    assert terms.restorable_statuses == {"SUSPENDED"}
    assert terms.status_labels["VALID"] == "有效"


def test_a_renamed_code_fails_loudly(tmp_path: Path) -> None:
    copy = tmp_path / "specs"
    shutil.copytree(SPECS, copy)
    path = copy / "terminology.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("code: TAKEN_DOWN", "code: DELISTED"), encoding="utf-8")
    with pytest.raises(ConfigError, match="TAKEN_DOWN"):
        load_terminology(copy)


def test_category_schemes_come_from_the_catalogue(tmp_path: Path) -> None:
    schemes = load_catalogue_schemes(SPECS)
    assert schemes["0701"] == "certificate" and schemes["0205"] == "self-declaration"
    doc = yaml.safe_load((SPECS / "examples" / "ics-reference.yaml").read_text(encoding="utf-8"))
    doc["categoryMapping"] += [{"categoryId": "fuse", "name": "熔断体", "productCode": "0205"},
                               {"categoryId": "odd", "name": "x", "productCode": "0999"},
                               {"categoryId": "declared", "name": "y", "productCode": "0701",
                                "scheme": "self-declaration"}]
    path = tmp_path / "ics.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    ics = load_ics(path, Schemas(SPECS), schemes)
    assert ics.categories["fridge"].scheme == "certificate"
    assert ics.categories["fuse"].scheme == "self-declaration"
    assert ics.categories["odd"].scheme == "certificate"            # unknown code: the stricter reading
    assert ics.categories["declared"].scheme == "self-declaration"  # the ICS says so
    assert ics.categories["books"].product_code is None and ics.categories["books"].scheme is None
    assert ics.timing.listing_decision == 3


def test_an_invalid_ics_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "ics.yaml"
    path.write_text("profile: nope\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not a valid ICS"):
        load_ics(path, Schemas(SPECS), {})


def test_mode_follows_the_ics_unless_told(tmp_path: Path) -> None:
    base = ["--regulator-url", "http://127.0.0.1:9", "--platform-id", "p", "--platform-secret", "s"]
    both = settings_from(parser().parse_args(base), tmp_path / "a.db")
    assert both.push and both.poll
    poll = settings_from(parser().parse_args([*base, "--mode", "poll"]), tmp_path / "b.db")
    assert poll.poll and not poll.push
    assert both.retry_cap == pytest.approx(1.0)   # listingDecisionSeconds 3 / 3


@pytest.mark.parametrize("argv", [
    ["--platform-id", "p", "--platform-secret", "s"],                                    # no regulator
    ["--regulator-url", "ftp://x", "--platform-id", "p", "--platform-secret", "s"],
    ["--regulator-url", "http://127.0.0.1:9", "--platform-secret", "s"],                 # no id
    ["--regulator-url", "http://127.0.0.1:9", "--platform-id", "p"],                     # no secret
    ["--regulator-url", "http://127.0.0.1:9", "--platform-id", "p", "--platform-secret", "s", "--port", "70000"],
    ["--regulator-url", "http://127.0.0.1:9", "--platform-id", "p", "--platform-secret", "s", "--fault", "bogus"],
    ["--regulator-url", "http://127.0.0.1:9", "--platform-id", "p", "--platform-secret", "s", "--ics", "/nope"],
    ["--signature-alg", "MD5"],
    ["--no-such-option"],
])
def test_usage_errors_exit_3_with_one_line(argv: list[str], capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CCC_REGULATOR_URL", "CCC_PLATFORM_ID", "CCC_PLATFORM_SECRET"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SystemExit) as stopped:
        raise SystemExit(main(argv))
    assert stopped.value.code == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("argv", [["--list-faults"], ["--fault", "help"]])
def test_fault_list(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == list(faults.FAULTS)


def test_faults_may_be_comma_separated(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--fault", "no-audit,bogus-one"]) == 3
    assert "bogus-one" in capsys.readouterr().err
