"""What one run knows about the platform under test: its ICS, its PIXIT and where it lives."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance import ics as ics_mod
from conformance import specs


@dataclass
class RunContext:
    """The ICS (as declared), the PIXIT (secrets: never print this object) and derived facts."""

    ics: dict[str, Any]
    pixit: dict[str, Any]
    target: str
    ics_file: str | None = None
    simulator_url: str | None = None

    @property
    def capabilities(self) -> dict[str, bool]:
        return dict(self.ics.get("capabilities") or {})

    def claims(self, capability: str) -> bool:
        return bool(self.capabilities.get(capability))

    @property
    def timing(self) -> dict[str, float]:
        return dict(self.ics.get("timing") or {})

    @property
    def tolerance(self) -> float:
        """The profile's measurement tolerance: what the harness adds to every declared deadline."""
        return float(specs.load().param("measurementToleranceSeconds"))

    @property
    def decision_deadline(self) -> float:
        """Seconds a new or edited listing may take to be decided (listingDecisionSeconds), tolerance included."""
        return float(self.timing["listingDecisionSeconds"]) + self.tolerance

    @property
    def takedown_deadline(self) -> float:
        """Seconds a takedown or a disposition report may take (takedownDeadlineSeconds), tolerance included."""
        return float(self.timing["takedownDeadlineSeconds"]) + self.tolerance

    @property
    def notification_url(self) -> str | None:
        return (self.ics.get("endpoints") or {}).get("notificationUrl")

    @property
    def platform_id(self) -> str:
        return self.pixit["platformId"]

    @property
    def platform_secret(self) -> str:
        return self.pixit["platformSecret"]

    @property
    def signature_alg(self) -> str:
        return self.pixit.get("signatureAlgorithm") or specs.load().codes("signatureAlgorithm")[0]

    @property
    def bearer_token(self) -> str | None:
        return self.pixit.get("bearerToken") if self.claims("bearerToken") else None

    def secrets(self) -> list[str]:
        return [v for v in (self.pixit.get("platformSecret"), self.pixit.get("bearerToken")) if v]

    def category_mapping(self) -> list[dict[str, Any]]:
        return list(self.ics.get("categoryMapping") or [])

    def scheme_of(self, product_code: str | None) -> str | None:
        """certificate / self-declaration for a catalogue code (the catalogue decides, not the ICS)."""
        if product_code is None:
            return None
        product = specs.load().catalogue.get(product_code)
        return product.scheme if product else None

    def __repr__(self) -> str:  # never show the PIXIT
        return f"RunContext(target={self.target!r}, ics_file={self.ics_file!r})"


def load_context(ics_path: str | Path, pixit_path: str | Path | None, target: str | None,
                 simulator_url: str | None = None) -> RunContext:
    ics_doc = ics_mod.load_ics(Path(ics_path))
    pixit = ics_mod.load_pixit(Path(pixit_path) if pixit_path else None)
    base = target or (ics_doc.get("endpoints") or {}).get("testControlBaseUrl")
    return RunContext(ics=ics_doc, pixit=pixit, target=str(base).rstrip("/"), ics_file=str(ics_path),
                      simulator_url=simulator_url)
