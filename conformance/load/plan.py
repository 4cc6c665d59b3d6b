"""The load plan: what locust sends, when, and with which certificates (written as JSON for locust).

Shapes are piecewise arrival rates over the run; the ``flap`` shape also switches the regulator off
and on (simulator faults) in the middle of the run. Windows of the run have roles in the verdicts:
``flap`` (AVL-04), the rest (AVL-01/02), the first and last ``loadWindowFraction`` (AVL-05).
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from conformance import specs
from conformance.context import RunContext
from conformance.simulator.control import SimulatorControl

SHAPES = ("flap", "steady", "ramp", "spike", "soak")
# The flap segment is this middle share of the run (AVL-01/02/05 are judged outside it).
FLAP_SEGMENT_SHARE = 0.4
SPIKE_FACTOR = 3.0
# Certificates per pool: enough that listings do not all share one, few enough to issue quickly.
POOL_SIZE = 12
# Field names of the test-control interface the load uses; checked against the schemas below.
_CREATE_FIELDS = ("merchantId", "categoryId", "title", "brand", "model", "manufacturer", "certificateNo")
_VIEW_FIELDS = {"listingId": "listing", "state": "listing", "reasonCode": "listing", "purchasable": "consumer-view"}


class PlanError(ValueError):
    """A load option that cannot be planned (usage error)."""


@dataclass
class LoadOptions:
    rate: float
    duration: float
    shape: str = "flap"
    workers: int = 1
    quick: bool = False
    remote_workers: int = 0
    master_bind: str = "127.0.0.1"
    seed: int = 0

    @classmethod
    def defaults(cls, *, quick: bool = False, rate: float | None = None, duration: float | None = None,
                 shape: str | None = None, workers: int | None = None, remote_workers: int = 0,
                 master_bind: str | None = None) -> LoadOptions:
        """Options from the profile (quick preset or certification load), overridden where given."""
        s = specs.load()
        shape = shape or "flap"
        if shape not in SHAPES:
            raise PlanError(f"--shape: unknown shape {shape!r} (one of {', '.join(SHAPES)})")
        if quick:
            default_rate, default_duration = s.param("loadQuickRequestsPerSecond"), s.param("loadQuickDurationSeconds")
        else:
            default_rate = s.param("loadRequestsPerSecond")
            default_duration = s.param("soakDurationSeconds" if shape == "soak" else "loadDurationSeconds")
        opts = cls(rate=float(rate if rate is not None else default_rate),
                   duration=float(duration if duration is not None else default_duration),
                   shape=shape, workers=int(workers or 1), quick=quick, remote_workers=remote_workers,
                   master_bind=master_bind or "127.0.0.1")
        if opts.rate <= 0 or opts.duration <= 0:
            raise PlanError("--rate and --duration must be positive")
        if opts.workers < 1 or opts.remote_workers < 0:
            raise PlanError("--workers must be at least 1")
        return opts


@dataclass
class Timeline:
    """Arrival segments ``[from, to, rate_from, rate_to]`` and the run's windows (seconds from start)."""

    segments: list[list[float]]
    duration: float
    flap: tuple[float, float] | None = None
    down: list[tuple[float, float]] = field(default_factory=list)
    first: tuple[float, float] = (0.0, 0.0)
    last: tuple[float, float] = (0.0, 0.0)
    status_change_at: float = 0.0

    def in_flap(self, t: float) -> bool:
        return self.flap is not None and self.flap[0] <= t < self.flap[1]

    def in_down(self, t: float) -> bool:
        return any(a <= t < b for a, b in self.down)


def timeline(opts: LoadOptions) -> Timeline:
    s = specs.load()
    r, d = opts.rate, opts.duration
    if opts.shape == "ramp":
        segments = [[0.0, d / 2, r / 10, r], [d / 2, d, r, r]]
    elif opts.shape == "spike":
        segments = [[0.0, 0.45 * d, r, r], [0.45 * d, 0.55 * d, SPIKE_FACTOR * r, SPIKE_FACTOR * r], [0.55 * d, d, r, r]]
    else:
        segments = [[0.0, d, r, r]]
    window = s.param("loadWindowFraction") * d
    t = Timeline(segments=segments, duration=d, first=(0.0, window), last=(d - window, d),
                 status_change_at=s.param("loadStatusChangeAtFraction") * d)
    if opts.shape == "flap":
        down = float(s.param("loadQuickFlapDownSeconds" if opts.quick else "flapDownSeconds"))
        up = float(s.param("loadQuickFlapUpSeconds" if opts.quick else "flapUpSeconds"))
        cycles = max(1, math.floor(FLAP_SEGMENT_SHARE * d / (down + up)))
        length = cycles * (down + up)   # ends with an up window: the regulator is back when it closes
        start = (d - length) / 2
        if start < window or start + length > d - window:
            raise PlanError(f"--duration {d:g} s is too short for the flap shape: {cycles} regulator "
                            f"flap(s) of {down:g}+{up:g} s must fit between the first and last windows")
        t.flap = (start, start + length)
        t.down = [(start + i * (down + up), start + i * (down + up) + down) for i in range(cycles)]
    return t


def _fields() -> dict[str, str]:
    s = specs.load()
    out = {}
    for name in _CREATE_FIELDS:
        if name not in s.schema("listing-create").get("properties", {}):
            raise specs.SpecError(f"listing-create.schema.json has no field {name!r} the load needs")
        out[name] = name
    for name, schema in _VIEW_FIELDS.items():
        if name not in s.schema(schema).get("properties", {}):
            raise specs.SpecError(f"{schema}.schema.json has no field {name!r} the load needs")
        out[name] = name
    return out


def _categories(ctx: RunContext) -> list[dict[str, Any]]:
    found = [c for c in ctx.category_mapping() if c.get("productCode") and ctx.scheme_of(c["productCode"]) == "certificate"]
    if not found:
        raise PlanError("the ICS maps no catalogue category whose products need a certificate: nothing to load")
    return found


def pools(ctx: RunContext, sim: SimulatorControl, *, change_share: float) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """Certificates per kind of the mix, issued in the simulator; and the valid ones to change mid-run."""
    s = specs.load()
    status = s.vocab.certificateStatus
    cats = _categories(ctx)

    def issue(i: int, st: str) -> dict[str, Any]:
        cat = cats[i % len(cats)]
        models = [f"LD-{uuid.uuid4().hex[:6].upper()}", f"LD-{uuid.uuid4().hex[:6].upper()}"]
        cert = sim.issue_certificate(product_code=cat["productCode"], status=st, models=models,
                                     brand=f"LoadBrand{uuid.uuid4().hex[:4].upper()}")
        return {"certificateNo": cert["certificateNo"], "categoryId": cat["categoryId"], "model": cert["models"][0],
                "brand": cert.get("brand"), "manufacturer": cert.get("manufacturer")}

    out: dict[str, list[dict[str, Any]]] = {"valid": [issue(i, status.VALID) for i in range(POOL_SIZE * 2)]}
    changing = max(1, round(change_share * len(out["valid"])))
    for entry in out["valid"][:changing]:
        entry["changing"] = True
    for kind, st in status_kinds().items():
        out[kind] = [issue(i, st) for i in range(POOL_SIZE // 3)]
    out["wrongModel"] = [{**issue(i, status.VALID), "model": f"NOT-COVERED-{uuid.uuid4().hex[:6]}"} for i in range(3)]
    unknown = []
    for entry in out["valid"][changing:changing + 4]:
        number = entry["certificateNo"]
        for k in range(1, 1000):
            candidate = number[:-6] + f"{(int(number[-6:]) + 500000 + k) % 1000000:06d}"
            if sim.get_certificate(candidate) is None:
                unknown.append({**entry, "certificateNo": candidate, "changing": False})
                break
    out["unknown"] = unknown
    out["missingNumber"] = [{**issue(i, status.VALID), "certificateNo": None} for i in range(2)]
    return out, [e["certificateNo"] for e in out["valid"] if e.get("changing")]


def status_kinds() -> dict[str, str]:
    """Kinds of the certificate mix (loadCertificateMix) that are a registry status other than valid."""
    st = specs.load().vocab.certificateStatus
    return {"suspended": st.SUSPENDED, "revoked": st.REVOKED, "cancelled": st.CANCELLED, "expired": st.EXPIRED}


def expected(kind: str, changed_to: str | None) -> tuple[bool, str | None]:
    """(on sale?, reason code) the profile's decision order gives a listing of this kind of the mix."""
    s = specs.load()
    reason = s.vocab.reasonCode
    if kind == "valid":
        return (True, None) if changed_to is None else (False, s.reason_for_status(changed_to))
    if kind in status_kinds():
        return False, s.reason_for_status(status_kinds()[kind])
    return False, {"unknown": reason.CERT_NOT_FOUND, "wrongModel": reason.MODEL_NOT_COVERED,
                   "missingNumber": reason.NO_CERTIFICATE}[kind]


def write_plan(path: Path, *, ctx: RunContext, opts: LoadOptions, tl: Timeline, pool: dict[str, list[dict[str, Any]]],
               start_at: float, out_dir: Path) -> dict[str, Any]:
    s = specs.load()
    plan = {
        "target": ctx.target, "bearerToken": ctx.bearer_token, "startAt": start_at, "duration": tl.duration,
        "segments": tl.segments, "workers": opts.workers + opts.remote_workers, "seed": opts.seed,
        "operationMix": s.param("loadOperationMix"), "certificateMix": s.param("loadCertificateMix"),
        "pools": pool, "fields": _fields(), "states": {"onSale": s.vocab.listingState.ON_SALE},
        "timeoutSeconds": s.param("loadTimeoutSeconds"), "outDir": str(out_dir), "options": asdict(opts),
    }
    path.write_text(json.dumps(plan, ensure_ascii=False, indent=1), encoding="utf-8")
    return plan
