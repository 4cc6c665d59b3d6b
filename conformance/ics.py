"""ICS and PIXIT: loading, and the static review of the ICS (ICS-01, TERM-03, AUD-02).

The ICS (implementation conformance statement) is what the platform declares: capabilities, the
timings it commits to, its category mapping, its record retention. The PIXIT holds secrets and
addresses; it never reaches a report, so :class:`Pixit` keeps its secrets out of ``repr``.

Limits, code lists and the catalogue come from :mod:`conformance.specs`; the ICS field names used
here are the ones profile.md §2 fixes ("the schema may add fields, not rename these").
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from conformance import specs as specs_mod
from conformance.catalogue_review import review_mapping
from conformance.specs import Specs

# The requirements this module decides, in the order they are reported.
ICS_VALID = "ICS-01"
CATEGORY_MAPPING = "TERM-03"
RETENTION = "AUD-02"
STATIC_REQUIREMENTS = (ICS_VALID, CATEGORY_MAPPING, RETENTION)

# PIXIT environment overrides (profile.md §2): variable → (PIXIT pointer, converter name).
PIXIT_ENV: dict[str, tuple[tuple[str, ...], str]] = {
    "CCC_PLATFORM_ID": (("platformId",), "str"),
    "CCC_PLATFORM_SECRET": (("platformSecret",), "str"),
    "CCC_BEARER_TOKEN": (("bearerToken",), "str"),
    "CCC_SIMULATOR_HOST": (("simulator", "host"), "str"),
    "CCC_SIMULATOR_PORT": (("simulator", "port"), "port"),
}
# PIXIT fields whose values must never appear in a message, a log or a report.
_PIXIT_SECRETS = ("platformSecret", "bearerToken")


class IcsError(RuntimeError):
    """An ICS or PIXIT that cannot be used at all: unreadable, not YAML, not a mapping, or (PIXIT)
    invalid. The message is one line naming the file (and line:column for YAML errors)."""


@dataclass(frozen=True)
class StaticVerdict:
    """The verdict of one requirement from the static review, with every reason behind it."""

    requirement: str
    verdict: str
    reasons: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    """What the review could not judge, beside a verdict decided by other entries (a FAIL elsewhere)."""

    def lines(self) -> list[str]:
        """'ICS-01 FAIL: /timing/x: reason' — one line per reason, or one bare line without reasons;
        then 'TERM-03 finding: …' per finding."""
        head = [f"{self.requirement} {self.verdict}: {reason}" for reason in self.reasons] \
            or [f"{self.requirement} {self.verdict}"]
        return head + [f"{self.requirement} finding: {finding}" for finding in self.findings]


class Pixit(dict[str, Any]):
    """The PIXIT as pixit.schema.json shapes it (``platformId``, ``platformSecret``, ``simulator`` …).

    A plain dict for its users, except that its repr hides the secrets, so a stray log line or a
    failing assertion cannot print them.
    """

    source: str = "environment"

    def __repr__(self) -> str:
        shown = {k: ("<redacted>" if k in _PIXIT_SECRETS and v else v) for k, v in self.items()}
        return f"Pixit({shown!r}, source={self.source!r})"

    __str__ = __repr__

    def secret_values(self) -> list[str]:
        """The values evidence capture must redact."""
        return [v for k, v in self.items() if k in _PIXIT_SECRETS and isinstance(v, str) and v]


# -- verdict codes ------------------------------------------------------------------------------
def _codes() -> Any:
    # Imported late: conformance.verdicts pulls in pytest, which `ics validate` should not pay for
    # until it reviews something.
    from conformance.verdicts import codes

    return codes()


def passed(verdict: StaticVerdict) -> bool:
    return verdict.verdict == _codes().PASS


# Exit codes of `ccc-conformance ics validate`, in the spirit of `run`'s (0 CONFORMANT, 1 NON_CONFORMANT,
# 2 INCOMPLETE): a review that FAILs nothing but could not judge something is not a pass.
EXIT_PASSED, EXIT_FAILED, EXIT_UNJUDGED = 0, 1, 2


def outcome(verdicts: list[StaticVerdict], file: str | Path) -> tuple[str, int]:
    """The closing line of ``ics validate`` and its exit code: 0 when every requirement passed, 1 when
    any FAILed, 2 when none FAILed but some could not be judged (INCONCLUSIVE)."""
    c = _codes()
    failed = [v.requirement for v in verdicts if v.verdict == c.FAIL]
    open_ = [v.requirement for v in verdicts if v.verdict not in (c.PASS, c.FAIL)]
    if failed:
        return (f"{file}: {len(failed) + len(open_)} of {len(verdicts)} requirements not passed "
                f"({', '.join(failed + open_)})", EXIT_FAILED)
    if open_:
        return (f"{file}: none failed, {len(open_)} of {len(verdicts)} not judged ({', '.join(open_)} "
                f"{c.INCONCLUSIVE}: see above)", EXIT_UNJUDGED)
    return f"{file}: all {len(verdicts)} requirements passed", EXIT_PASSED


# -- loading ------------------------------------------------------------------------------------
class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys: YAML keeps the last one silently, which would hide a
    mistake in a declaration the platform signs off."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: dict[Any, yaml.Mark] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}, first at line {seen[key].line + 1}", key_node.start_mark)
        seen[key] = key_node.start_mark
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml_mapping(path: str | Path, what: str = "ICS") -> dict[str, Any]:
    """A YAML file that must hold a mapping, or an :class:`IcsError` saying what and where."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise IcsError(f"{path}: {what} file not found") from None
    except IsADirectoryError:
        raise IcsError(f"{path}: {what} file is a directory") from None
    except UnicodeDecodeError as exc:
        raise IcsError(f"{path}: {what} file is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise IcsError(f"{path}: cannot read {what} file ({exc.strerror or exc})") from None
    try:
        doc = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = exc.problem or exc.context or "invalid YAML"
        raise IcsError(f"{where}: {what} is not valid YAML ({problem})") from None
    except yaml.YAMLError as exc:
        raise IcsError(f"{path}: {what} is not valid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(doc, dict):
        kind = "empty" if doc is None else f"a {type(doc).__name__}"
        raise IcsError(f"{path}: {what} must be a YAML mapping, but the file is {kind}")
    return doc


def load_ics(path: str | Path) -> dict[str, Any]:
    """The ICS document as written (not reviewed: see :func:`review`)."""
    return load_yaml_mapping(path, "ICS")


def load_pixit(path: str | Path | None = None, env: Mapping[str, str] | None = None,
               specs: Specs | None = None) -> Pixit:
    """The PIXIT from a YAML file and/or the CCC_* environment variables (which win), validated
    against pixit.schema.json and shaped as it is. Problems raise :class:`IcsError`, never showing a
    secret."""
    s = specs or specs_mod.load()
    env = os.environ if env is None else env
    doc: dict[str, Any] = load_yaml_mapping(path, "PIXIT") if path is not None else {}
    used_env = []
    for var, (pointer, kind) in PIXIT_ENV.items():
        raw = env.get(var)
        if raw is None or raw == "":  # an empty variable reads as unset, as shells export them
            continue
        value: Any = raw
        if kind == "port":
            try:
                value = int(raw)
            except ValueError:
                raise IcsError(f"{var}: {raw!r} is not a port number") from None
        target = doc
        for key in pointer[:-1]:
            if not isinstance(target.get(key), dict):
                target[key] = {}
            target = target[key]
        target[pointer[-1]] = value
        used_env.append(var)
    where = str(path) if path is not None else "environment"
    errors = _pixit_errors(s, doc)
    if errors:
        missing = any("required property" in e for e in errors)
        hint = " (set CCC_PLATFORM_ID and CCC_PLATFORM_SECRET, or give a PIXIT file)" if missing else ""
        raise IcsError(f"PIXIT {where}: {'; '.join(errors)}{hint}")
    pixit = Pixit(doc)
    pixit.source = where + (f" + {', '.join(used_env)}" if path is not None and used_env else "")
    return pixit


def _pixit_errors(s: Specs, doc: dict[str, Any]) -> list[str]:
    found = sorted(s.validator("pixit").iter_errors(doc), key=lambda e: (len(e.absolute_path), e.message))
    out = []
    for e in found:
        pointer = "/" + "/".join(str(p) for p in e.absolute_path)
        message = e.message
        # jsonschema quotes the offending value in its message; for a secret that is the secret.
        if e.absolute_path and e.absolute_path[0] in _PIXIT_SECRETS:
            message = message.replace(repr(e.instance), "<redacted>")
        out.append(f"{pointer}: {message}")
    return out


# -- static review ------------------------------------------------------------------------------
def review_file(path: str | Path, specs: Specs | None = None) -> list[StaticVerdict]:
    """Load and review an ICS file (IcsError when it cannot be read as a YAML mapping)."""
    return review(load_ics(path), specs)


def review(doc: Mapping[str, Any], specs: Specs | None = None) -> list[StaticVerdict]:
    """One verdict each for ICS-01, TERM-03 and AUD-02, in that order."""
    s = specs or specs_mod.load()
    for rid in STATIC_REQUIREMENTS:
        s.requirement(rid)  # a requirement missing from requirements.yaml is a spec bug: fail loudly
    return [_review_ics(s, doc), _review_mapping(s, doc), _review_retention(s, doc)]


def _number(value: Any) -> bool:
    # YAML true/false are ints to Python; a boolean is never a number of seconds or years.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _title(key: str) -> str:
    return key[:1].upper() + key[1:]


def _review_ics(s: Specs, doc: Mapping[str, Any]) -> StaticVerdict:
    pass_, fail = _codes().PASS, _codes().FAIL
    endpoints = doc.get("endpoints") if isinstance(doc.get("endpoints"), dict) else {}
    capabilities = doc.get("capabilities") if isinstance(doc.get("capabilities"), dict) else {}
    push = capabilities.get("statusPush")
    url = endpoints.get("notificationUrl")
    push_without_url = push is True and url is None and "notificationUrl" in endpoints

    reasons = []
    for err in s.errors("ics", doc):
        # Our own line below says this better than "None is not of type 'string'".
        if push_without_url and err.startswith("/endpoints/notificationUrl:"):
            continue
        reasons.append(err)

    if isinstance(doc.get("profile"), str) and doc["profile"] != s.profile_id and not any(
            r.startswith("/profile:") for r in reasons):
        reasons.append(f"/profile: declares {doc['profile']!r}, but this suite tests {s.profile_id!r}")

    # Timing maxima: the parameter names follow the ICS field names (maxTest<Field>, maxProduction<Field>),
    # so a timing field added to the schema without its maximum in profile.yaml fails loudly (SpecError).
    timing_props = s.schema("ics")["properties"]
    for section, prefix in (("timing", "maxTest"), ("production", "maxProduction")):
        declared = doc.get(section)
        if not isinstance(declared, dict):
            continue
        for key in timing_props[section]["properties"]:
            value = declared.get(key)
            if not _number(value):
                continue  # missing or mistyped: the schema error above already says so
            param = f"{prefix}{_title(key)}"
            limit = s.param(param)
            if value > limit:
                reasons.append(f"/{section}/{key}: {value:g} s exceeds the profile maximum {limit:g} s ({param})")

    if push_without_url:
        reasons.append("/endpoints/notificationUrl: is null, but /capabilities/statusPush is true "
                       "(declare the URL events are pushed to)")
    elif push is False and url is not None:
        reasons.append(f"/endpoints/notificationUrl: must be null when /capabilities/statusPush is false "
                       f"(got {url!r})")

    mapping = doc.get("categoryMapping")
    if isinstance(mapping, list):
        first: dict[str, int] = {}
        for i, entry in enumerate(mapping):
            cid = entry.get("categoryId") if isinstance(entry, dict) else None
            if not isinstance(cid, str):
                continue
            if cid in first:
                reasons.append(f"/categoryMapping/{i}/categoryId: duplicate category {cid!r} "
                               f"(first at /categoryMapping/{first[cid]})")
            else:
                first[cid] = i
    return StaticVerdict(ICS_VALID, fail if reasons else pass_, reasons)


def _review_mapping(s: Specs, doc: Mapping[str, Any]) -> StaticVerdict:
    """TERM-03: every mapped product code is one the catalogue can vouch for (conformance.catalogue_review):
    FAIL when one cannot be right, else INCONCLUSIVE when one is beyond what the catalogue file knows."""
    c = _codes()
    mapping = doc.get("categoryMapping")
    if not isinstance(mapping, list):
        return StaticVerdict(CATEGORY_MAPPING, c.INCONCLUSIVE,
                                  ["/categoryMapping: missing or not a list, nothing to review (see ICS-01)"])
    found = review_mapping(s, mapping)
    if found.failures:
        return StaticVerdict(CATEGORY_MAPPING, c.FAIL, found.failures, found.unjudged)
    if found.unjudged:
        return StaticVerdict(CATEGORY_MAPPING, c.INCONCLUSIVE, found.unjudged)
    return StaticVerdict(CATEGORY_MAPPING, c.PASS, [])


def _review_retention(s: Specs, doc: Mapping[str, Any]) -> StaticVerdict:
    minimum = s.param("retentionMinYears")
    retention = doc.get("retention")
    years = retention.get("verificationRecordYears") if isinstance(retention, dict) else None
    if not _number(years):
        return StaticVerdict(RETENTION, _codes().INCONCLUSIVE,
                                  ["/retention/verificationRecordYears: missing or not a number (see ICS-01)"])
    if years < minimum:
        return StaticVerdict(RETENTION, _codes().FAIL, [
            f"/retention/verificationRecordYears: {years:g} {'year' if years == 1 else 'years'} is below the "
            f"minimum of {minimum:g} years (retentionMinYears, E-Commerce Law Art. 31)"])
    return StaticVerdict(RETENTION, _codes().PASS, [])
