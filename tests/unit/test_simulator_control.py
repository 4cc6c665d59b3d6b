"""Both controls implement control.py's protocol with the same signatures, and the fault vocabulary of
fault_kinds.py is control.py's and the schemas'."""

from __future__ import annotations

import inspect

import pytest

from conformance.simulator import FAULT_KINDS, ROUTES, control, fault_kinds
from conformance.simulator.client import SimulatorClient
from conformance.simulator.core import Simulator
from conformance.simulator.faults import MATCH_BODY_FIELDS
from conformance.specs import Specs

PROTOCOL_METHODS = [name for name, member in vars(control.SimulatorControl).items()
                    if not name.startswith("_") and (callable(member) or isinstance(member, property))]


def test_protocol_lists_the_expected_methods() -> None:
    assert {"base_url", "register_platform", "issue_certificate", "get_certificate", "update_certificate",
            "set_status", "set_statuses", "redeliver", "events", "add_fault", "remove_fault", "clear_faults",
            "captures", "pushes", "dispositions"} <= set(PROTOCOL_METHODS)


@pytest.mark.parametrize("implementation", [Simulator, SimulatorClient])
@pytest.mark.parametrize("name", PROTOCOL_METHODS)
def test_same_signature_as_the_protocol(implementation: type, name: str) -> None:
    expected = getattr(control.SimulatorControl, name)
    actual = getattr(implementation, name)
    if isinstance(expected, property):
        assert isinstance(actual, property)
        return
    want = inspect.signature(expected)
    have = inspect.signature(actual)
    assert [(p.name, p.kind, p.default) for p in have.parameters.values()] == \
        [(p.name, p.kind, p.default) for p in want.parameters.values()], name


def test_fault_vocabulary(specs: Specs) -> None:
    declared = fault_kinds.declared()
    assert tuple(FAULT_KINDS) == tuple(kind.name for kind in declared)
    assert len(set(FAULT_KINDS)) == len(FAULT_KINDS)
    routes = set(ROUTES) - {"*"}
    assert all(kind.routes <= routes for kind in declared if kind.routes is not None)
    assert all(kind.description and "\n" not in kind.description for kind in declared)
    sim = Simulator()
    assert set(sim.contract.route_names) == routes  # the OpenAPI's routes are control.py's
    for schema in ("verification-request", "disposition"):
        assert set(MATCH_BODY_FIELDS) <= sim.contract.properties(schema)


def test_validation_without_jsonschema_rs(monkeypatch: pytest.MonkeyPatch, specs: Specs) -> None:
    """jsonschema-rs only speeds the decision up; without it conformance.specs decides alone."""
    from conformance.simulator import contract as contract_module

    monkeypatch.setattr(contract_module, "_rs", None)
    contract = contract_module.Contract(specs)
    good = {"requestId": "00000000-0000-4000-8000-000000000001", "listingId": "L", "merchantId": "M",
            "certificateNo": "2021010701123456", "productCode": "0701", "productName": "冰箱"}
    assert contract.is_valid("verification-request", good)
    assert contract.errors("verification-request", {**good, "certificateNo": "123"})[0].startswith("/certificateNo")
