"""What the suite catches, as the self-check reads it from the one declaration of each fault
(``reference_platform/faults.py``): fault → (areas to run, requirements that must FAIL there,
requirements the fault may leave INCONCLUSIVE because it removes their precondition). Every other
SHALL requirement of those areas must still PASS: no collateral verdicts.

Only faults judged by the functional suite are here; load-phase faults are self-checked by the load runner.
"""

from __future__ import annotations

from reference_platform.faults import FAULTS

CATCHES: dict[str, tuple[list[str], set[str], set[str]]] = {
    f.name: (list(f.areas), set(f.fails), set(f.may_be_inconclusive))
    for f in FAULTS.values() if f.phase == "functional"
}
