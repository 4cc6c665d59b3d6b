"""The names every suite module reads its codes and tolerances by, defined once.

``S`` is the loaded ``specs/`` (:mod:`conformance.specs`), ``V`` its code lists by name
(``V.listingState.ON_SALE``), ``R`` the reason codes; the rest are the values several modules compare
with. Nothing here is a literal: a code or a tolerance changed in ``specs/`` is followed everywhere."""

from __future__ import annotations

from conformance import specs

S = specs.load()
V = S.vocab
R = V.reasonCode
ON_SALE = V.listingState.ON_SALE
INTERCEPTED = V.listingState.INTERCEPTED
TOLERANCE = float(S.param("measurementToleranceSeconds"))
REGULATOR_TIMEOUT = float(S.param("regulatorTimeoutSeconds"))
