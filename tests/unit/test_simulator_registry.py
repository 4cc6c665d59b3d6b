"""The certificate registry: well-formed, unique, realistic numbers and records, deterministic and fast."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from conformance.simulator.core import Simulator
from conformance.simulator.registry import today_shanghai
from conformance.specs import Specs

CJK = re.compile(r"[\u4e00-\u9fff]")


def years_later(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def test_ten_thousand_certificates_have_distinct_numbers() -> None:
    # how fast they are issued is measured in benchmarks/simulator_registry.py, not asserted here
    sim = Simulator(seed=1)
    certs = sim.issue_certificates(10_000)
    numbers = [c["certificateNo"] for c in certs]
    assert len(set(numbers)) == 10_000


def test_numbers_have_consistent_segments(specs: Specs) -> None:
    sim = Simulator(seed=2)
    for cert in sim.issue_certificates(2_000):
        number = cert["certificateNo"]
        assert re.fullmatch(r"[0-9]{16}", number)
        assert number[:4] == cert["issueDate"][:4]  # year of first issue
        assert number[4:6] == "01" and cert["certificationBody"] == "中国质量认证中心"  # CQC
        assert number[6:10] == cert["productCode"] and cert["productCode"] in specs.catalogue
        assert 1 <= int(number[10:]) <= 999_999


def test_records_validate_and_look_real(specs: Specs) -> None:
    sim = Simulator(seed=3)
    certs = sim.issue_certificates(300)
    for cert in certs:
        assert specs.errors("certificate", cert) == []
        assert len(cert["models"]) >= 2 and len(set(cert["models"])) == len(cert["models"])
        for field in ("applicant", "manufacturer", "factory"):
            assert CJK.search(cert[field]) and "公司" in cert[field], cert[field]
        assert cert["productName"] == specs.catalogue[cert["productCode"]].name_zh
    assert {c["status"] for c in certs} == set(specs.codes("certificateStatus"))
    assert len({c["applicant"] for c in certs}) > 200  # varied, not one company


def test_dates_five_year_validity_and_status() -> None:
    sim = Simulator(seed=4)
    today = today_shanghai()
    for cert in sim.issue_certificates(500):
        issued, expires = date.fromisoformat(cert["issueDate"]), date.fromisoformat(cert["expiryDate"])
        assert expires == years_later(issued, 5) - timedelta(days=1)
        assert issued <= today
        if cert["status"] == "EXPIRED":
            assert expires < today
        else:
            assert expires > today
        assert cert["statusChangedAt"][:10] >= cert["issueDate"]


def test_deterministic_from_seed() -> None:
    first = Simulator(seed=42).issue_certificates(50)
    second = Simulator(seed=42).issue_certificates(50)
    other = Simulator(seed=43).issue_certificates(50)
    strip = [{k: v for k, v in c.items() if k != "statusChangedAt"} for c in first]
    assert strip == [{k: v for k, v in c.items() if k != "statusChangedAt"} for c in second]
    assert [c["certificateNo"] for c in first] != [c["certificateNo"] for c in other]


def test_issue_with_given_fields(specs: Specs) -> None:
    sim = Simulator()
    cert = sim.issue_certificate(product_code="0703", status="SUSPENDED", models=["KFR-35GW/A1", "KFR-50GW/A1"],
                                 brand="凯瑞", applicant="深圳市凯瑞电器有限公司", manufacturer="深圳市凯瑞电器有限公司",
                                 factory="深圳市凯瑞电器有限公司宝安分公司", product_name="房间空气调节器",
                                 issue_date="2023-03-15")
    assert specs.errors("certificate", cert) == []
    assert (cert["status"], cert["models"], cert["brand"], cert["issueDate"], cert["expiryDate"]) == \
        ("SUSPENDED", ["KFR-35GW/A1", "KFR-50GW/A1"], "凯瑞", "2023-03-15", "2028-03-14")
    assert cert["certificateNo"].startswith("2023010703")
    assert sim.get_certificate(cert["certificateNo"]) == cert


def test_issue_with_expiry_only_derives_issue_date() -> None:
    cert = Simulator().issue_certificate(product_code="0701", expiry_date="2024-06-30")
    assert (cert["issueDate"], cert["expiryDate"]) == ("2019-07-01", "2024-06-30")


@pytest.mark.parametrize(("kwargs", "says"), [
    ({"product_code": "9999"}, "not in the CCC catalogue"),
    ({"product_code": "0701", "status": "ANNULLED"}, "status"),
    ({"product_code": "0701", "models": []}, "/models"),
    ({"product_code": "0701", "models": "BCD-1"}, "models must be a list"),
    ({"product_code": "0701", "issue_date": "15/03/2023"}, "YYYY-MM-DD"),
    ({"product_code": "0701", "applicant": " "}, "/applicant"),
])
def test_issue_refuses_bad_fields(kwargs: dict[str, object], says: str) -> None:
    sim = Simulator()
    with pytest.raises(ValueError, match=re.escape(says)):
        sim.issue_certificate(**kwargs)  # type: ignore[arg-type]
    assert len(sim.registry) == 0


def test_update_is_silent_and_validated() -> None:
    sim = Simulator()
    cert = sim.issue_certificate(product_code="0714")
    updated = sim.update_certificate(cert["certificateNo"], expiryDate="2020-02-29", brand=None, models=["M1-L213B"])
    assert (updated["expiryDate"], updated["brand"], updated["models"]) == ("2020-02-29", None, ["M1-L213B"])
    assert sim.update_certificate(cert["certificateNo"], expiry_date="2030-01-01")["expiryDate"] == "2030-01-01"
    assert sim.events() == []
    with pytest.raises(ValueError, match="unknown certificate field"):
        sim.update_certificate(cert["certificateNo"], colour="red")
    with pytest.raises(ValueError, match="/models"):
        sim.update_certificate(cert["certificateNo"], models="M1")
    with pytest.raises(ValueError, match="cannot change"):
        sim.update_certificate(cert["certificateNo"], certificateNo="2021010701123456")
    with pytest.raises(KeyError):
        sim.update_certificate("2000010701000001", brand="x")


def test_numbers_unique_against_loaded_certificates(specs: Specs) -> None:
    sim = Simulator(seed=9)
    template = sim.issue_certificate(product_code="0701")
    loaded = [{**template, "certificateNo": f"{template['certificateNo'][:10]}{i:06d}"} for i in range(1, 500)]
    fresh = Simulator(seed=9)
    fresh.load_certificates([c for c in loaded if c["certificateNo"] != template["certificateNo"]])
    numbers = {c["certificateNo"] for c in fresh.issue_certificates(300, product_codes=["0701"])}
    assert not numbers & {c["certificateNo"] for c in loaded}


def test_load_validates_every_record() -> None:
    sim = Simulator()
    good = sim.issue_certificate(product_code="0701")
    with pytest.raises(ValueError, match=r"\[1\]/expiryDate"):
        Simulator().load_certificates([good, {**good, "certificateNo": "2021010701000001", "expiryDate": "tomorrow"}])
    with pytest.raises(ValueError, match="appears twice"):
        Simulator().load_certificates([good, good])
    target = Simulator()
    with pytest.raises(ValueError):
        target.load_certificates([good, {"certificateNo": "1"}])
    assert len(target.registry) == 0  # all or nothing


def test_status_change_updates_record_and_feed() -> None:
    sim = Simulator()
    cert = sim.issue_certificate(product_code="0701")
    event = sim.set_status(cert["certificateNo"], "REVOKED", reason="质量问题", push=False)
    record = sim.get_certificate(cert["certificateNo"])
    assert record is not None
    assert (event["previousStatus"], event["status"], event["reason"]) == ("VALID", "REVOKED", "质量问题")
    assert (record["status"], record["statusChangedAt"]) == ("REVOKED", event["effectiveAt"])
    assert sim.events(cert["certificateNo"]) == [event]
    with pytest.raises(ValueError, match="well-formed"):
        sim.set_status(cert["certificateNo"], "gone")
    with pytest.raises(KeyError):
        sim.set_status("2000010701000001", "REVOKED")


def test_a_status_outside_the_code_list_is_announced_when_well_formed(specs: Specs) -> None:
    # Open-ended statuses (profile Clarifications): the regulator may announce a code the platform
    # does not know; the record, the event and the feed all carry it, and all stay schema-valid.
    sim = Simulator()
    cert = sim.issue_certificate(product_code="0701")
    event = sim.set_status(cert["certificateNo"], "PROVISIONAL", push=False)
    assert event["status"] == "PROVISIONAL" and "PROVISIONAL" not in specs.codes("certificateStatus")
    assert specs.errors("status-change-event", event) == []
    record = sim.get_certificate(cert["certificateNo"])
    assert record is not None and record["status"] == "PROVISIONAL"
    assert specs.errors("certificate", record) == []
    for malformed in ("provisional", "UNDER-REVIEW", "X" * 33, ""):
        with pytest.raises(ValueError, match="well-formed"):
            sim.set_status(cert["certificateNo"], malformed, push=False)
    assert sim.events(cert["certificateNo"]) == [event]


def test_bulk_change_is_all_or_nothing() -> None:
    sim = Simulator()
    certs = [sim.issue_certificate(product_code="0701")["certificateNo"] for _ in range(3)]
    with pytest.raises(KeyError):
        sim.set_statuses([(certs[0], "REVOKED"), ("2000010701000001", "REVOKED")], push=False)
    assert sim.events() == []
    events = sim.set_statuses([(n, "CANCELLED") for n in certs], push=False)
    assert [e["sequence"] for e in events] == [1, 2, 3]
