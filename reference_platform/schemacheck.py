"""Checking documents against the published JSON Schemas (Draft 2020-12) with jsonschema-rs.

The platform checks every regulator answer, every event and every request body against the schemas
in specs/schemas/ (RES-03, SEC-03), hundreds a second. jsonschema-rs compiles each schema once, in
Rust, and then decides in microseconds; the harness's simulator uses it the same way.

The schemas name each other by file name (``$ref: common.schema.json#/$defs/text``): one
:class:`SchemaSet` registers them all under those names, and its retriever refuses every other
address, so a check never reaches the network and a reference to a file that is not there fails at
start-up rather than on the first document that needs it.

Formats are asserted (2020-12 treats them as annotations unless asked). For ``date`` and
``date-time`` jsonschema-rs reads RFC 3339 to the letter and accepts year 0000 and the leap second
``23:59:60``, which Python's date and datetime cannot hold and jsonschema (the harness's validator)
rejects: an answer with such an expiry date would pass the check and then be unreadable to the
decision. So those two formats also require that the platform can read the value.

``pattern`` is read with Python's ``re``, not jsonschema-rs's ECMA-262 engine: the harness's
jsonschema and the generators that derive documents from the schemas read patterns that way, and
the two dialects disagree on ``\\s`` (U+001C–U+001F and U+0085 are space to Python, U+FEFF to
ECMA-262), so a title of U+FEFF alone would be blank to one and not to the other.

Documents must be JSON values: jsonschema-rs reads a float NaN or Infinity as null, so the platform's
JSON parsers refuse those constants (app.py for its own API, regulator.py for the regulator's answers).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

import jsonschema_rs

from .clock import parse_date, parse_rfc3339

# An error message names the field and the rule; the offending value only while it is short, so
# that a megabyte of text sent in a field is never echoed back in an answer or a log line.
MAX_MESSAGE = 300
MASK = "the value"
SHOWN_VALUE = 80   # characters of a value a message may quote


class SchemaError(Exception):
    """A schema the platform cannot check against: a $ref to nothing, a malformed keyword."""


def _refuse(uri: str) -> Any:
    # Called for any reference outside the registry: everything the platform checks against is in specs/.
    raise LookupError(f"{uri!r} is not one of the files in specs/schemas/")


def _builtin(fmt: str) -> Callable[[Any], bool]:
    return jsonschema_rs.Draft202012Validator({"format": fmt}, validate_formats=True).is_valid


_RFC3339_DATE = _builtin("date")
_RFC3339_DATE_TIME = _builtin("date-time")

# Formats whose built-in check is narrowed to values the platform can read (see the module docstring).
FORMATS: dict[str, Callable[[str], bool]] = {
    "date": lambda value: _RFC3339_DATE(value) and parse_date(value) is not None,
    "date-time": lambda value: _RFC3339_DATE_TIME(value) and parse_rfc3339(value) is not None,
}


_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_surrogates(doc: Any) -> Any:
    """The document with each lone surrogate as U+FFFD, one code point for one.

    JSON text may escape a lone surrogate ("\\ud800") and json.loads keeps it, but jsonschema-rs
    cannot take such a string at all (it raises UnicodeEncodeError). Lengths and the patterns the
    schemas use read U+FFFD as they read the surrogate, so the verdict is the one jsonschema gives;
    callers that refuse such text say so themselves.
    """
    if isinstance(doc, str):
        return _SURROGATE.sub("\ufffd", doc)
    if isinstance(doc, list):
        return [_without_surrogates(v) for v in doc]
    if isinstance(doc, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in doc.items()}
    return doc


class _PythonPattern:
    """The ``pattern`` keyword as jsonschema reads it (see the module docstring)."""

    def __init__(self, _parent: dict[str, Any], value: str, _path: list[str | int]) -> None:
        self._search = re.compile(value).search   # re.error: the schema does not compile
        self._pattern = json.dumps(value)

    def validate(self, instance: Any) -> None:
        if isinstance(instance, str) and not self._search(instance):
            shown = json.dumps(instance, ensure_ascii=False) if len(instance) <= SHOWN_VALUE else MASK
            raise ValueError(f"{shown} does not match {self._pattern}")


_KEYWORDS = {"pattern": _PythonPattern}


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _pointer(path: Iterable[str | int]) -> str:
    """The JSON Pointer (RFC 6901) of an instance location; the whole document is "/" here."""
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path)


class Validator:
    """One compiled schema: ``is_valid`` for the hot path, ``first_error`` for an answer's message."""

    def __init__(self, schema: Any, registry: jsonschema_rs.Registry | None = None) -> None:
        self.schema = schema
        self._registry = registry
        self._check = self._compile(None)
        self._masked: jsonschema_rs.Validator | None = None

    def _compile(self, mask: str | None) -> jsonschema_rs.Validator:
        try:
            return jsonschema_rs.Draft202012Validator(
                self.schema, registry=self._registry, retriever=_refuse, validate_formats=True, formats=FORMATS,
                keywords=_KEYWORDS, mask=mask)
        except (ValueError, jsonschema_rs.ReferencingError) as exc:   # ValidationError is a ValueError
            raise SchemaError(_first_line(exc)) from exc

    def is_valid(self, doc: Any) -> bool:
        try:
            return self._check.is_valid(doc)
        except UnicodeEncodeError:
            return self._check.is_valid(_without_surrogates(doc))

    def first_error(self, doc: Any) -> str | None:
        """None when valid, else '/json/pointer: message' for the first error found."""
        try:
            self._check.validate(doc)
        except UnicodeEncodeError:
            return self.first_error(_without_surrogates(doc))
        except jsonschema_rs.ValidationError as error:
            message = error.message
            if len(message) > MAX_MESSAGE:
                # The message quotes a long value whole: say the same rule with the value masked
                # (the same schema and document, so the same first error).
                if self._masked is None:
                    self._masked = self._compile(MASK)
                try:
                    self._masked.validate(doc)
                except jsonschema_rs.ValidationError as masked:
                    message = masked.message
            text = f"{_pointer(error.instance_path)}: {message}"
            # A key can be long too (it is quoted in the message and the pointer): cut what is left.
            return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 3] + "..."
        return None


class SchemaSet:
    """Schema documents by file name, registered together, each compiled on first use."""

    def __init__(self, docs: dict[str, Any]) -> None:
        self._docs = docs
        try:
            self._registry = jsonschema_rs.Registry(list(docs.items()), retriever=_refuse)
        except (ValueError, jsonschema_rs.ReferencingError) as exc:
            raise SchemaError(_first_line(exc)) from exc
        self._validators: dict[str, Validator] = {}

    def __contains__(self, file: str) -> bool:
        return file in self._docs

    def validator(self, file: str) -> Validator:
        """The compiled check for ``file``; KeyError when there is no such file, SchemaError when it is broken."""
        found = self._validators.get(file)
        if found is None:
            found = self._validators[file] = Validator(self._docs[file], self._registry)
        return found
