"""The simulator's certificate registry (证书库): realistic CCC certificates, deterministic from a seed.

A number is year of first issue (4) + certification body (2, 01 = CQC) + catalogue product code (4)
+ sequence (6), unique within the registry. Names are invented but shaped like real ones (city +
trade name + trade + 有限公司); models follow each product family's usual pattern. Generation avoids
per-certificate schema validation of generated fields (10,000 certificates must take well under a
second); caller-supplied fields are validated, because that is where mistakes come from.

Time is real time; dates are calendar days in Asia/Shanghai (profile.yaml ``timezone``).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from conformance import signing
from conformance.simulator.answer import encode
from conformance.simulator.contract import Contract

# Certification bodies by their 2-digit code in certificate numbers. profile.md §1 confirms only
# 01 = CQC (中国质量认证中心), so the registry issues under CQC alone rather than invent codes.
CERTIFICATION_BODIES = {"01": "中国质量认证中心"}

_T = TypeVar("_T")

_CITIES = ("深圳市", "广州市", "佛山市", "东莞市", "中山市", "珠海市", "宁波市", "杭州市", "苏州市", "无锡市",
           "常州市", "温州市", "台州市", "青岛市", "厦门市", "合肥市", "武汉市", "成都市", "重庆", "天津市",
           "上海", "北京", "慈溪市", "余姚市", "惠州市", "江门市", "泉州市", "嘉兴市", "绍兴市", "南京市")
_DISTRICTS = ("宝安", "龙岗", "顺德", "南海", "长安", "虎门", "北仑", "鄞州", "吴江", "昆山", "萧山", "黄岩",
              "乐清", "胶州", "同安", "江宁")
# Trade-name syllables with their pinyin, so that brands can be Chinese (华瑞) or Latin (HUARUI).
_SYLLABLES = (("华", "HUA"), ("美", "MEI"), ("金", "JIN"), ("利", "LI"), ("恒", "HENG"), ("德", "DE"),
              ("安", "AN"), ("嘉", "JIA"), ("鸿", "HONG"), ("新", "XIN"), ("博", "BO"), ("盛", "SHENG"),
              ("永", "YONG"), ("宏", "HONG"), ("凯", "KAI"), ("瑞", "RUI"), ("宇", "YU"), ("东", "DONG"),
              ("天", "TIAN"), ("佳", "JIA"), ("信", "XIN"), ("海", "HAI"), ("丰", "FENG"), ("泰", "TAI"),
              ("达", "DA"), ("兴", "XING"), ("源", "YUAN"), ("力", "LI"), ("诚", "CHENG"), ("润", "RUN"),
              ("锦", "JIN"), ("航", "HANG"), ("欣", "XIN"), ("迪", "DI"), ("朗", "LANG"), ("宸", "CHEN"))
# What a manufacturer of each product family (first two digits of the product code) calls its trade.
_TRADES = {
    "01": ("电线电缆", "线缆", "电缆"), "02": ("电气", "电器", "开关插座"), "03": ("电气", "电器", "低压电器"),
    "04": ("电机", "机电"), "05": ("电动工具", "工具"), "06": ("焊接设备", "电焊机"),
    "07": ("电器", "家电", "电器科技"), "08": ("电子", "电子科技", "音响"), "09": ("电子科技", "信息技术", "数码科技"),
    "10": ("照明", "光电"), "11": ("汽车部件", "汽配", "新能源科技"), "12": ("安全设备", "安防"),
    "15": ("玩具", "童车"), "16": ("通信", "通讯设备"), "17": ("消防设备",), "18": ("安全技术防范",),
    "21": ("建材", "装饰材料"), "22": ("儿童用品",), "24": ("燃气具", "厨卫电器"),
}
_COMPANY_FORMS = ("有限公司", "有限公司", "有限公司", "股份有限公司", "实业有限公司")
_STANDARDS = {
    "07": ("GB 4706.1-2005",), "09": ("GB 4943.1-2022", "GB/T 9254.1-2021", "GB 17625.1-2022"),
    "08": ("GB 8898-2011",), "10": ("GB 7000.1-2015",),
}
_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"


class _Rng:
    """random.Random with cheap choice/randint: the library's versions cost ~4 µs a call in pure
    Python, which alone would put 10,000 certificates near a second. Deterministic from the seed."""

    __slots__ = ("_random",)

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed).random

    def random(self) -> float:
        return self._random()

    def pick(self, items: Sequence[_T]) -> _T:
        return items[int(self._random() * len(items))]

    def between(self, low: int, high: int) -> int:
        """An integer in [low, high]."""
        return low + int(self._random() * (high - low + 1))


def _model_series(rng: _Rng, product_code: str, count: int) -> list[str]:
    """Several models of one series, in the family's usual shape (BCD-215WTM, KFR-35GW/…, …)."""
    family = product_code[:2]
    letters = "".join(rng.pick(_LETTERS) for _ in range(2))
    out: list[str] = []
    while len(out) < count:
        variant = rng.pick(_LETTERS) + str(rng.between(1, 9))
        if product_code == "0701":
            model = f"BCD-{rng.between(24, 129) * 5}{letters}{variant}"
        elif product_code == "0703":
            model = f"KFR-{rng.pick((26, 32, 35, 50, 72))}GW/{letters}{rng.between(10, 99)}{variant}"
        elif product_code == "0714":
            model = f"M{rng.between(1, 9)}-{rng.between(200, 330)}{letters[0]}{variant}"
        elif family == "01":
            model = f"{letters}{rng.pick(('VV', 'V-R', 'RVV'))} {rng.between(2, 5)}×{rng.pick((0.75, 1.0, 1.5, 2.5))}mm²"
        elif family == "09":
            model = f"{letters}{rng.between(10, 99)}{rng.pick(_LETTERS)}-{rng.between(100, 999)}{variant}"
        else:
            model = f"{letters}-{rng.between(100, 9999)}{variant}"
        if model not in out:
            out.append(model)
    return out


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def today_shanghai() -> date:
    return datetime.now(signing.SHANGHAI).date()


def _at(day: date, rng: _Rng, now: datetime) -> str:
    """An RFC 3339 instant on that Shanghai day, during office hours (when registries change), not after now."""
    moment = datetime(day.year, day.month, day.day, rng.between(8, 17), rng.between(0, 59), rng.between(0, 59),
                      tzinfo=signing.SHANGHAI)
    return (moment if moment <= now else now).isoformat(timespec="seconds")


@dataclass
class _Entry:
    record: dict[str, Any]
    encoded: bytes | None = None  # the record as JSON, cached: the hot path answers with it


def _copy(record: dict[str, Any]) -> dict[str, Any]:
    """A copy whose lists (models, standards) are not shared: callers may change what they get."""
    return {k: (list(v) if isinstance(v, list) else v) for k, v in record.items()}


class Registry:
    """Certificates by number; thread-safe. Records use certificate.schema.json's field names."""

    def __init__(self, contract: Contract, seed: int = 0) -> None:
        self.contract = contract
        self.specs = contract.specs
        self._rng = _Rng(seed)
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._next_sequence: dict[str, int] = {}  # per number prefix (year + body + product code)
        self._products = sorted(self.specs.catalogue)
        self._cert_products = [c for c in self._products if self.specs.catalogue[c].scheme == "certificate"]
        self._fields = contract.properties("certificate")

    # -- reads --------------------------------------------------------------------------------
    def get(self, certificate_no: str) -> dict[str, Any] | None:
        entry = self._entries.get(certificate_no)
        return _copy(entry.record) if entry else None

    def encoded(self, certificate_no: str) -> bytes | None:
        """The record as JSON bytes (cached), or None: the hot path's only registry call."""
        entry = self._entries.get(certificate_no)
        if entry is None:
            return None
        data = entry.encoded
        if data is None:
            data = entry.encoded = encode(entry.record)
        return data

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, certificate_no: str) -> bool:
        return certificate_no in self._entries

    def all(self, *, status: str | None = None, product_code: str | None = None,
            limit: int | None = None) -> list[dict[str, Any]]:
        with self._lock:
            entries = list(self._entries.values())
        out = []
        for e in entries:
            if status is not None and e.record["status"] != status:
                continue
            if product_code is not None and e.record["productCode"] != product_code:
                continue
            out.append(_copy(e.record))
            if limit is not None and len(out) >= limit:
                break
        return out

    # -- issue --------------------------------------------------------------------------------
    def issue(self, *, product_code: str, status: str | None = None, models: list[str] | None = None,
              brand: str | None = None, applicant: str | None = None, manufacturer: str | None = None,
              factory: str | None = None, product_name: str | None = None, issue_date: str | None = None,
              expiry_date: str | None = None, standards: list[str] | None = None,
              brand_none: bool = False) -> dict[str, Any]:
        status = status or self.contract.valid_status
        if status not in self.contract.statuses:
            raise ValueError(f"status {status!r} is not one of {', '.join(self.contract.statuses)}")
        for name, value in (("models", models), ("standards", standards)):
            if value is not None and not isinstance(value, list | tuple):
                raise ValueError(f"{name} must be a list of strings, not {type(value).__name__}")
        product = self.specs.catalogue.get(product_code)
        if product is None:
            raise ValueError(f"product_code {product_code!r} is not in the CCC catalogue (specs/catalogue.yaml)")
        given = {k: v for k, v in (("models", models), ("brand", brand), ("applicant", applicant),
                                   ("manufacturer", manufacturer), ("factory", factory),
                                   ("productName", product_name), ("issueDate", issue_date),
                                   ("expiryDate", expiry_date), ("standards", standards)) if v is not None}
        years = self.contract.validity_years
        now = datetime.now(signing.SHANGHAI)
        today = now.date()
        with self._lock:
            rng = self._rng
            issued, expires = self._dates(rng, status, today, issue_date, expiry_date, years)
            trade = rng.pick(_TRADES.get(product_code[:2], ("电器",)))
            holder = self._company(rng, trade)
            maker = holder if rng.random() < 0.6 else self._company(rng, trade)
            record: dict[str, Any] = {
                "certificateNo": "",
                "status": status,
                "statusChangedAt": self._status_changed_at(rng, status, issued, expires, now),
                "productCode": product_code,
                "productName": product_name if product_name is not None else product.name_zh,
                "models": list(models) if models is not None else _model_series(rng, product_code, rng.between(2, 5)),
                "brand": brand if brand is not None else (None if brand_none else self._brand(rng, holder)),
                "applicant": applicant if applicant is not None else holder[0],
                "manufacturer": manufacturer if manufacturer is not None else maker[0],
                "factory": factory if factory is not None else self._factory(rng, maker),
                "certificationBody": CERTIFICATION_BODIES["01"],
                "issueDate": issued.isoformat(),
                "expiryDate": expires.isoformat(),
            }
            chosen_standards = standards if standards is not None else _STANDARDS.get(product_code[:2])
            if chosen_standards:
                record["standards"] = list(chosen_standards)
            record["certificateNo"] = self._new_number(rng, issued.year, "01", product_code)
            if given:
                errors = self.contract.errors("certificate", record)
                if errors:
                    raise ValueError(f"certificate fields invalid: {'; '.join(errors)}")
            self._entries[record["certificateNo"]] = _Entry(record)
        return _copy(record)

    def issue_many(self, count: int, *, statuses: list[str] | None = None,
                   product_codes: list[str] | None = None) -> list[dict[str, Any]]:
        """count random certificates, statuses and products drawn (deterministically) from the lists."""
        statuses = statuses or list(self.contract.statuses)
        codes = product_codes or self._cert_products
        out = []
        for i in range(count):
            with self._lock:
                code = self._rng.pick(codes)
                brand_none = self._rng.random() < 0.03
            out.append(self.issue(product_code=code, status=statuses[i % len(statuses)], brand_none=brand_none))
        return out

    def load(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Add records as given (from a file); each validated, numbers unique. All or nothing."""
        errors: list[str] = []
        seen: set[str] = set()
        for i, rec in enumerate(records):
            for err in self.specs.errors("certificate", rec):
                errors.append(f"[{i}]{err}")
            no = rec.get("certificateNo") if isinstance(rec, dict) else None
            if isinstance(no, str):
                if no in seen or no in self._entries:
                    errors.append(f"[{i}]/certificateNo: {no} appears twice")
                seen.add(no)
        if errors:
            raise ValueError("; ".join(errors[:5]) + (f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""))
        with self._lock:
            for rec in records:
                self._entries[rec["certificateNo"]] = _Entry(_copy(rec))
        return [_copy(r) for r in records]

    # -- change -------------------------------------------------------------------------------
    def update(self, certificate_no: str, fields: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(fields) - self._fields)
        if unknown:
            raise ValueError(f"unknown certificate field(s) {', '.join(unknown)} "
                             f"(fields: {', '.join(sorted(self._fields))})")
        if "certificateNo" in fields and fields["certificateNo"] != certificate_no:
            raise ValueError("certificateNo cannot change; issue a new certificate instead")
        with self._lock:
            entry = self._entries.get(certificate_no)
            if entry is None:
                raise KeyError(f"no certificate {certificate_no!r} in the simulator's registry")
            record = _copy({**entry.record, **fields})
            if "standards" in fields and fields["standards"] is None:  # optional field: None removes it
                record.pop("standards")
            errors = self.contract.errors("certificate", record)
            if errors:
                raise ValueError(f"certificate fields invalid: {'; '.join(errors)}")
            self._entries[certificate_no] = _Entry(record)
        return _copy(record)

    def set_status(self, certificate_no: str, status: str, changed_at: str) -> str:
        """Set status and statusChangedAt; returns the previous status. Caller holds no lock."""
        with self._lock:
            entry = self._entries.get(certificate_no)
            if entry is None:
                raise KeyError(f"no certificate {certificate_no!r} in the simulator's registry")
            previous = entry.record["status"]
            self._entries[certificate_no] = _Entry({**entry.record, "status": status, "statusChangedAt": changed_at})
        return previous

    # -- helpers (caller holds the lock) -----------------------------------------------------
    def _dates(self, rng: _Rng, status: str, today: date, issue_date: str | None,
               expiry_date: str | None, years: int) -> tuple[date, date]:
        try:
            issued = date.fromisoformat(issue_date) if issue_date else None
            expires = date.fromisoformat(expiry_date) if expiry_date else None
        except ValueError as exc:
            raise ValueError(f"issue_date/expiry_date must be YYYY-MM-DD ({exc})") from None
        if issued is None and expires is not None:
            issued = _add_years(expires + timedelta(days=1), -years)
        if issued is None:
            if status == self.contract.expired_status:
                # Expired: issued more than `years` ago, so the expiry date is already past.
                issued = _add_years(today, -years) - timedelta(days=rng.between(1, 700))
            else:
                # In force by date: issued within the last years-1, so at least a year remains.
                issued = today - timedelta(days=rng.between(1, 365 * (years - 1)))
        if expires is None:
            expires = _add_years(issued, years) - timedelta(days=1)
        return issued, expires

    def _status_changed_at(self, rng: _Rng, status: str, issued: date, expires: date, now: datetime) -> str:
        today = now.date()
        if status == self.contract.valid_status:
            return _at(min(issued, today), rng, now)
        if status == self.contract.expired_status and expires < today:
            return _at(expires + timedelta(days=1), rng, now)
        span = max((min(today, expires) - issued).days, 0)
        return _at(min(issued + timedelta(days=rng.between(0, span)), today), rng, now)

    def _company(self, rng: _Rng, trade: str) -> tuple[str, str, str, str]:
        """(full name, city, trade name, pinyin) of an invented company."""
        first = rng.between(0, len(_SYLLABLES) - 1)
        second = (first + rng.between(1, len(_SYLLABLES) - 1)) % len(_SYLLABLES)  # two different syllables
        (a, pa), (b, pb) = _SYLLABLES[first], _SYLLABLES[second]
        city = rng.pick(_CITIES)
        return f"{city}{a}{b}{trade}{rng.pick(_COMPANY_FORMS)}", city, a + b, pa + pb

    @staticmethod
    def _brand(rng: _Rng, company: tuple[str, str, str, str]) -> str:
        return company[2] if rng.random() < 0.5 else company[3]

    @staticmethod
    def _factory(rng: _Rng, company: tuple[str, str, str, str]) -> str:
        roll = rng.random()
        if roll < 0.5:
            return company[0]
        if roll < 0.8:
            return f"{company[0]}{rng.pick(_DISTRICTS)}分公司"
        return f"{company[0]}第{rng.pick('一二三')}工厂"

    def _new_number(self, rng: _Rng, year: int, body: str, product_code: str) -> str:
        prefix = f"{year:04d}{body}{product_code}"
        seq = self._next_sequence.get(prefix)
        if seq is None:
            # Start each prefix somewhere in the range so numbers do not all look like …000001.
            seq = rng.between(1, 600_000)
        for _ in range(1_000_000):
            seq = seq % 999_999 + 1
            number = f"{prefix}{seq:06d}"
            if number not in self._entries:
                self._next_sequence[prefix] = seq + rng.between(1, 29)
                return number
        raise ValueError(f"no free certificate number left for prefix {prefix}")
