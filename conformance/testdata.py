"""Test data: each test makes its own merchants, certificates and listings, so tests run in parallel
and in any order against one simulator and one platform (architecture: isolation by data).

Categories come from the platform's ICS mapping; certificates from the simulator, which guarantees
unique numbers. The factory remembers what it made so the test's evidence can be filtered to it.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

from conformance.context import RunContext
from conformance.simulator.control import SimulatorControl
from conformance.verdicts import Inconclusive

_BRANDS = ["海岚", "Norvik", "青禾", "Aurelo", "瑞科", "Tessen", "北辰", "Lumora"]


class DataFactory:
    def __init__(self, ctx: RunContext, sim: SimulatorControl, seed: int | None = None) -> None:
        self.ctx = ctx
        self.sim = sim
        self.rng = random.Random(seed)
        self.merchants: list[str] = []
        self.certificates: list[str] = []
        self.listings: list[str] = []
        self.event_ids: list[str] = []

    # -- identities ----------------------------------------------------------------------------
    def merchant(self) -> str:
        m = f"m-{uuid.uuid4().hex[:16]}"
        self.merchants.append(m)
        return m

    def model(self) -> str:
        letters = "".join(self.rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(2))
        return f"{letters}-{self.rng.randint(100, 9999)}{uuid.uuid4().hex[:4].upper()}"

    def brand(self) -> str:
        return f"{self.rng.choice(_BRANDS)}{uuid.uuid4().hex[:4].upper()}"

    # -- categories (from the ICS) -------------------------------------------------------------
    def category(self, *, scheme: str = "certificate", exclude_codes: tuple[str, ...] = ()) -> dict[str, Any]:
        """A mapped catalogue category whose product uses ``scheme`` (certificate by default)."""
        found = [c for c in self.ctx.category_mapping()
                 if c.get("productCode") and self.ctx.scheme_of(c["productCode"]) == scheme
                 and c["productCode"] not in exclude_codes]
        if not found:
            raise Inconclusive(f"the ICS maps no catalogue category with scheme {scheme}"
                               + (f" other than {', '.join(exclude_codes)}" if exclude_codes else ""))
        return self.rng.choice(found)

    def other_category(self, product_code: str) -> dict[str, Any]:
        """A certificate category with a different product code (for PRODUCT_MISMATCH)."""
        return self.category(exclude_codes=(product_code,))

    def out_of_catalogue(self) -> dict[str, Any]:
        found = [c for c in self.ctx.category_mapping() if c.get("productCode") is None]
        if not found:
            raise Inconclusive("the ICS maps no category outside the catalogue")
        return self.rng.choice(found)

    # -- certificates (from the simulator) -----------------------------------------------------
    def certificate(self, category: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        """A fresh certificate for the category's product (or another product_code given)."""
        cat = category or self.category()
        fields.setdefault("product_code", cat["productCode"])
        fields.setdefault("models", [self.model(), self.model()])
        fields.setdefault("brand", self.brand())
        cert = self.sim.issue_certificate(**fields)
        self.certificates.append(cert["certificateNo"])
        return cert

    # -- listings ------------------------------------------------------------------------------
    def listing(self, cert: dict[str, Any] | None, category: dict[str, Any], *, merchant: str | None = None,
                **overrides: Any) -> dict[str, Any]:
        """Create-listing fields for a listing that matches ``cert`` in every element, then ``overrides``
        (a value of None removes the field)."""
        fields: dict[str, Any] = {
            "merchantId": merchant or self.merchant(),
            "categoryId": category["categoryId"],
            "title": f"{category.get('name', 'item')} {uuid.uuid4().hex[:6]}",
        }
        if cert is not None:
            fields.update(brand=cert.get("brand"), model=cert["models"][0], manufacturer=cert["manufacturer"],
                          certificateNo=cert["certificateNo"])
        fields.update(overrides)
        return {k: v for k, v in fields.items() if v is not None}

    def remember_listing(self, listing: dict[str, Any]) -> dict[str, Any]:
        self.listings.append(str(listing.get("listingId")))
        return listing
