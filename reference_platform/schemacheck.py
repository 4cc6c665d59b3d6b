"""Checking documents against the published JSON Schemas (2020-12), fast.

The platform checks every regulator answer, every event and every request body against the schemas
in specs/schemas/ (RES-03, SEC-03). It does not use the jsonschema library for that: with the format
extras the project installs, importing it takes seconds (which every platform start would pay) and it
interprets the schema anew on every call, which costs more than the rest of a listing decision.
Instead each schema, its ``$ref``s already inlined, is turned once into nested Python closures.

Only the keywords specs/schemas/ uses are implemented; any other keyword raises :class:`Unsupported`
when the schema is compiled, so that a new keyword in specs/ fails loudly at start-up instead of
being silently skipped. The formats are checked as jsonschema checks them (uuid, date, date-time as
RFC 3339, uri). tests/unit/test_refplat_schemacheck.py holds both implementations to the same verdicts.
"""

from __future__ import annotations

import calendar
import re
import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

# A check answers None for a valid value, else the error: a JSON pointer below the value (possibly
# empty) and a message, as "/a/0: message" or ": message".
Check = Callable[[Any], str | None]

# Keywords that only annotate; they never make a document invalid.
_ANNOTATIONS = frozenset({"title", "description", "$comment", "default", "examples", "deprecated", "readOnly",
                          "writeOnly", "$id", "$schema", "$defs"})


class Unsupported(Exception):
    """The schema uses a keyword (or a form of one) this module does not implement."""


class Validator:
    """A compiled schema: ``is_valid`` for the hot path, ``first_error`` for a message."""

    def __init__(self, schema: Any) -> None:
        self.schema = schema
        self._check = _compile(schema)

    def first_error(self, doc: Any) -> str | None:
        error = self._check(doc)
        if error is None:
            return None
        return "/" + error if error.startswith(":") else error

    def is_valid(self, doc: Any) -> bool:
        return self._check(doc) is None


def _show(value: Any) -> str:
    """A value as an error message shows it: short, whatever the input's size."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": _is_number,
    # JSON Schema: 1.0 is an integer.
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool))
    or (isinstance(v, float) and v.is_integer()),
}


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values: true is not 1, 1 is 1.0, objects and arrays compare member-wise."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


# -- formats, as jsonschema (with its format extras) checks them ------------------------------------------
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
_DATE_TIME = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])-(\d{2})T(?:[01]\d|2[0123]):[0-5]\d:[0-5]\d(?:\.\d+)?"
                        r"(?:Z|[+-](?:[01]\d|2[0123]):[0-5]\d)$", re.ASCII)
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s\"<>\\^`{|}]*$")


def _uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return all(value[i] == "-" for i in (8, 13, 18, 23))


def _date(value: str) -> bool:
    if not _DATE.fullmatch(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _date_time(value: str) -> bool:
    match = _DATE_TIME.match(value.upper())
    if match is None:
        return False
    year, month, day = (int(g) for g in match.groups())
    return bool(year) and 1 <= day <= calendar.monthrange(year, month)[1]


FORMATS: dict[str, Callable[[str], bool]] = {"uuid": _uuid, "date": _date, "date-time": _date_time,
                                             "uri": lambda v: bool(_URI.match(v))}


# -- the compiler -----------------------------------------------------------------------------------------
def _compile(schema: Any) -> Check:
    if schema is True:
        return lambda _v: None
    if schema is False:
        return lambda v: f": {_show(v)} is not allowed here"
    if not isinstance(schema, dict):
        raise Unsupported(f"schema {schema!r}")
    checks: list[Check] = []
    for key, arg in schema.items():
        if key in _ANNOTATIONS or key in ("then", "else"):   # then / else go with "if"
            continue
        make = _KEYWORDS.get(key)
        if make is None:
            raise Unsupported(f"keyword {key!r}")
        checks.append(make(arg, schema))
    return _every(checks)


def _every(checks: list[Check]) -> Check:
    # Plain loops rather than generators: this runs for every node of every answer.
    if not checks:
        return lambda _v: None
    if len(checks) == 1:
        return checks[0]

    def check(v: Any) -> str | None:
        for test in checks:
            error = test(v)
            if error is not None:
                return error
        return None
    return check


def _type(arg: Any, _schema: dict[str, Any]) -> Check:
    names = [arg] if isinstance(arg, str) else list(arg)
    unknown = [n for n in names if n not in _TYPES]
    if unknown:
        raise Unsupported(f"type {unknown}")
    tests = [_TYPES[n] for n in names]
    shown = repr(arg) if isinstance(arg, str) else repr(names)

    if len(tests) == 1:
        test = tests[0]
        return lambda v: None if test(v) else f": {_show(v)} is not of type {shown}"

    def check(v: Any) -> str | None:
        for test in tests:
            if test(v):
                return None
        return f": {_show(v)} is not of type {shown}"
    return check


def _enum(arg: Any, _schema: dict[str, Any]) -> Check:
    values = list(arg)
    if all(isinstance(x, str) for x in values):
        allowed = frozenset(values)
        return lambda v: None if isinstance(v, str) and v in allowed else f": {_show(v)} is not one of {values!r}"
    return lambda v: None if any(json_equal(v, x) for x in values) else f": {_show(v)} is not one of {values!r}"


def _const(arg: Any, _schema: dict[str, Any]) -> Check:
    return lambda v: None if json_equal(v, arg) else f": {arg!r} was expected"


def _required(arg: Any, _schema: dict[str, Any]) -> Check:
    keys = list(arg)
    wanted = frozenset(keys)

    def check(v: Any) -> str | None:
        if not isinstance(v, dict) or wanted.issubset(v.keys()):
            return None
        missing = next(k for k in keys if k not in v)
        return f": {missing!r} is a required property"
    return check


def _properties(arg: Any, _schema: dict[str, Any]) -> Check:
    pairs = tuple((name, _compile(sub)) for name, sub in arg.items())

    def check(v: Any) -> str | None:
        if not isinstance(v, dict):
            return None
        for name, test in pairs:
            if name in v:
                error = test(v[name])
                if error is not None:
                    return f"/{name}{error}"
        return None
    return check


def _additional(arg: Any, schema: dict[str, Any]) -> Check:
    if "patternProperties" in schema:
        raise Unsupported("patternProperties")
    known = frozenset(schema.get("properties", {}))
    extra = _compile(arg)

    def check(v: Any) -> str | None:
        if not isinstance(v, dict):
            return None
        for key in v:
            if key not in known:
                error = extra(v[key])
                if error is not None:
                    if arg is False:
                        return f": additional properties are not allowed ({key!r} was unexpected)"
                    return f"/{key}{error}"
        return None
    return check


def _items(arg: Any, schema: dict[str, Any]) -> Check:
    if "prefixItems" in schema or not isinstance(arg, dict | bool):
        raise Unsupported("items with prefixItems")
    item = _compile(arg)

    def check(v: Any) -> str | None:
        if not isinstance(v, list):
            return None
        for index, value in enumerate(v):
            error = item(value)
            if error is not None:
                return f"/{index}{error}"
        return None
    return check


def _size(kind: type, what: str, ok: Callable[[int, Any], bool]) -> Callable[[Any, dict[str, Any]], Check]:
    def make(arg: Any, _schema: dict[str, Any]) -> Check:
        return lambda v: None if not isinstance(v, kind) or ok(len(v), arg) else f": {_show(v)} {what} {arg}"
    return make


def _bound(what: str, ok: Callable[[Any, Any], bool]) -> Callable[[Any, dict[str, Any]], Check]:
    def make(arg: Any, _schema: dict[str, Any]) -> Check:
        return lambda v: None if not _is_number(v) or ok(v, arg) else f": {_show(v)} {what} {arg}"
    return make


def _pattern(arg: Any, _schema: dict[str, Any]) -> Check:
    regex = re.compile(arg)
    return lambda v: None if not isinstance(v, str) or regex.search(v) else f": {_show(v)} does not match {arg!r}"


def _format(arg: Any, _schema: dict[str, Any]) -> Check:
    test = FORMATS.get(arg)
    if test is None:
        return lambda _v: None   # formats nobody asserts are annotations
    return lambda v: None if not isinstance(v, str) or test(v) else f": {_show(v)} is not a {arg!r}"


def _all_of(arg: Any, _schema: dict[str, Any]) -> Check:
    return _every([_compile(sub) for sub in arg])


def _any_of(arg: Any, _schema: dict[str, Any]) -> Check:
    subs = [_compile(sub) for sub in arg]

    def check(v: Any) -> str | None:
        for sub in subs:
            if sub(v) is None:
                return None
        return f": {_show(v)} is not valid under any of the given schemas"
    return check


def _one_of(arg: Any, _schema: dict[str, Any]) -> Check:
    subs = [_compile(sub) for sub in arg]

    def check(v: Any) -> str | None:
        matched = sum(1 for sub in subs if sub(v) is None)
        if matched == 1:
            return None
        if matched == 0:
            return f": {_show(v)} is not valid under any of the given schemas"
        return f": {_show(v)} is valid under more than one of the given schemas"
    return check


def _not(arg: Any, _schema: dict[str, Any]) -> Check:
    sub = _compile(arg)
    return lambda v: f": {_show(v)} should not be valid under {arg!r}" if sub(v) is None else None


def _if(arg: Any, schema: dict[str, Any]) -> Check:
    condition = _compile(arg)
    then = _compile(schema.get("then", True))
    otherwise = _compile(schema.get("else", True))
    return lambda v: then(v) if condition(v) is None else otherwise(v)


_KEYWORDS: dict[str, Callable[[Any, dict[str, Any]], Check]] = {
    "type": _type,
    "enum": _enum,
    "const": _const,
    "required": _required,
    "properties": _properties,
    "additionalProperties": _additional,
    "items": _items,
    "minLength": _size(str, "is shorter than", lambda n, a: n >= a),
    "maxLength": _size(str, "is longer than", lambda n, a: n <= a),
    "minItems": _size(list, "has fewer items than", lambda n, a: n >= a),
    "maxItems": _size(list, "has more items than", lambda n, a: n <= a),
    "minProperties": _size(dict, "has fewer properties than", lambda n, a: n >= a),
    "maxProperties": _size(dict, "has more properties than", lambda n, a: n <= a),
    "minimum": _bound("is less than the minimum of", lambda n, a: n >= a),
    "maximum": _bound("is more than the maximum of", lambda n, a: n <= a),
    "exclusiveMinimum": _bound("is not above", lambda n, a: n > a),
    "exclusiveMaximum": _bound("is not below", lambda n, a: n < a),
    "pattern": _pattern,
    "format": _format,
    "allOf": _all_of,
    "anyOf": _any_of,
    "oneOf": _one_of,
    "not": _not,
    "if": _if,
}
