"""The one loader of ``specs/``: requirements, code lists, catalogue, profile parameters, schemas.

Everything the standard fixes lives in ``specs/`` as data; code asks this module for it so that a
changed field name or deadline in ``specs/`` is followed everywhere. A broken spec file fails loudly
with :class:`SpecError`, naming the file and the path inside it.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml
from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import SchemaError, ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPECS_ENV = "CCC_SPECS_DIR"
# The SHA-256 of a specs folder's schemas that a parent process has already checked against the
# JSON Schema metaschema. Checking costs ~0.3 s of CPU per process, and a run starts eight or more
# (the runner, the suite's pytest controller and its workers) on the same files; a child that finds
# this digest equal to its own skips the check, one that finds other bytes checks them.
SCHEMAS_CHECKED_ENV = "CCC_SCHEMAS_CHECKED"


def ecma_pattern(pattern: str) -> str:
    """A JSON Schema ``pattern`` (an ECMA-262 regular expression) as a Python one.

    In ECMA-262 ``$`` (no multiline flag) matches only at the end of the input; Python's ``$`` also
    matches before a final newline, so ``^[0-9]{16}$`` would accept a certificate number followed by a
    newline, and ``^[A-Z0-9_]{1,32}$`` the status ``"VALID\\n"``. An unescaped ``$`` outside a character
    class becomes ``\\Z``; everything else the profile's patterns use means the same in both."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "$":
            c = r"\Z"
        out.append(c)
        i += 1
    return "".join(out)


@functools.cache
def _compiled_pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(ecma_pattern(pattern))


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _compiled_pattern(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


# Draft 2020-12 with ``pattern`` read as ECMA-262 (ecma_pattern): every validator the harness builds
# over specs/ is one of these, so a value the contract's patterns reject is rejected here too.
SchemaValidator = validators.extend(Draft202012Validator, {"pattern": _pattern})


class SpecError(RuntimeError):
    """A file under specs/ is missing or malformed. The message names the file and the path."""


def specs_dir() -> Path:
    """Where ``specs/`` is: $CCC_SPECS_DIR, the copy a wheel installs, or the source checkout."""
    if env := os.environ.get(SPECS_ENV):
        return Path(env)
    here = Path(__file__).resolve().parent
    for candidate in (here / "_data" / "specs", here.parent / "specs"):
        if (candidate / "profile.yaml").is_file():
            return candidate
    raise SpecError(f"specs/ not found next to {here} (set {SPECS_ENV} to its path)")


def data_dir(name: str) -> Path:
    """A data folder shipped beside specs/ (``load``): the wheel's copy or the checkout's."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_data" / name, here.parent / name):
        if candidate.is_dir():
            return candidate
    raise SpecError(f"{name}/ not found next to {here}")



# libyaml's safe loader where PyYAML was built with it (its wheels are): the same documents, several
# times faster — every process of a run reads specs/ once, and a self-check starts dozens of them.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

def _read_yaml(path: Path) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
    except OSError as exc:
        raise SpecError(f"{path}: cannot read ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise SpecError(f"{path}:{where} invalid YAML ({getattr(exc, 'problem', exc)})") from exc


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SpecError(f"{path}: cannot read ({exc.strerror})") from exc


def _parse_json(path: Path, data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise SpecError(f"{path}: line {exc.lineno} column {exc.colno} invalid JSON ({exc.msg})") from exc


def _read_json(path: Path) -> Any:
    return _parse_json(path, _read_bytes(path))


def _need(doc: Any, path: Path, *keys: str) -> Any:
    """doc[keys...] or a SpecError naming the file and the missing path."""
    cur = doc
    for i, key in enumerate(keys):
        if not isinstance(cur, dict) or key not in cur:
            raise SpecError(f"{path}: missing /{'/'.join(keys[: i + 1])}")
        cur = cur[key]
    return cur


@dataclass(frozen=True)
class Code:
    code: str
    zh: str
    en: str
    definition: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Requirement:
    id: str
    level: str
    area: str
    title: str
    text_zh: str
    text_en: str
    verification: str
    capability: str | None
    verified_by: tuple[str, ...]
    suite: str = "functional"


@dataclass(frozen=True)
class Variant:
    """One case of a requirement (specs/variants.yaml): a class of inputs or situations, or its edge."""

    id: str
    requirement: str
    kind: str
    """positive (to accept or act on) or negative (to refuse, or to leave alone)."""
    technique: str
    zh: str
    en: str
    source: str | None = None
    when: dict[str, bool] = field(default_factory=dict)
    """ICS capabilities the variant exists under; empty for every ICS."""

    def applies(self, claimed: dict[str, bool]) -> bool:
        return all(bool(claimed.get(cap, False)) == want for cap, want in self.when.items())


@dataclass(frozen=True)
class Product:
    code: str
    name_zh: str
    name_en: str
    scheme: str
    mandatory_from: str | None
    category: str
    source: str = ""
    """Where the code was established, and how (the list's text, or certificate-number evidence)."""


@dataclass(frozen=True)
class RemovedProduct:
    """A product taken out of the CCC catalogue before the suite's revision: mapping to it is wrong."""

    name_zh: str
    name_en: str
    removed_by: str
    code: str | None = None
    """Its former product code, only where a source shows it."""
    source: str = ""


class Specs:
    """An indexed, validated view of one ``specs/`` folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._validators: dict[str, Any] = {}
        self._common_validators: dict[str, Any] = {}
        self._openapi: dict[str, dict[str, Any]] = {}
        self.profile: dict[str, Any] = _read_yaml(root / "profile.yaml")
        self._params = _need(self.profile, root / "profile.yaml", "parameters")
        self._load_terminology()
        self._load_requirements()
        self._load_catalogue()
        self._load_schemas()
        self._load_variants()

    # -- profile ------------------------------------------------------------------------------
    @property
    def profile_id(self) -> str:
        return f"{self.profile['id']}/{self.profile['version']}"

    def param(self, name: str) -> Any:
        """A profile parameter's value (profile.yaml /parameters/NAME/value)."""
        entry = self._params.get(name)
        if not isinstance(entry, dict) or "value" not in entry:
            raise SpecError(f"{self.root / 'profile.yaml'}: missing /parameters/{name}/value")
        return entry["value"]

    # -- terminology --------------------------------------------------------------------------
    def _load_terminology(self) -> None:
        path = self.root / "terminology.yaml"
        doc = _read_yaml(path)
        self._lists: dict[str, list[Code]] = {}
        for name, entry in _need(doc, path, "codeLists").items():
            codes = []
            for i, item in enumerate(_need(entry, path, "codes")):
                try:
                    codes.append(Code(code=item["code"], zh=item["zh"], en=item["en"], definition=item["definition"],
                                      extra={k: v for k, v in item.items() if k not in {"code", "zh", "en", "definition"}}))
                except (KeyError, TypeError) as exc:
                    raise SpecError(f"{path}: /codeLists/{name}/codes/{i} lacks {exc}") from exc
            self._lists[name] = codes
        self.terms: list[dict[str, str]] = doc.get("terms", [])

    @functools.cached_property
    def vocab(self) -> SimpleNamespace:
        """Code lists as attributes: ``vocab.listingState.ON_SALE`` is ``"ON_SALE"``.

        Code that needs one particular code names it this way instead of as a string literal, so a
        code renamed in terminology.yaml breaks loudly (AttributeError) instead of comparing stale text.
        """
        return SimpleNamespace(**{
            name: SimpleNamespace(**{c.code.replace("-", "_"): c.code for c in codes})
            for name, codes in self._lists.items()
        })

    def code_lists(self) -> dict[str, list[Code]]:
        return dict(self._lists)

    def codes(self, list_name: str) -> list[str]:
        """The codes of one list, in the order terminology.yaml gives them."""
        return [c.code for c in self._code_list(list_name)]

    def code(self, list_name: str, code: str) -> Code:
        for c in self._code_list(list_name):
            if c.code == code:
                return c
        raise KeyError(f"{code!r} is not in code list {list_name!r}")

    def label(self, list_name: str, code: str, lang: str = "zh") -> str:
        return getattr(self.code(list_name, code), lang)

    def _code_list(self, list_name: str) -> list[Code]:
        try:
            return self._lists[list_name]
        except KeyError:
            raise SpecError(f"{self.root / 'terminology.yaml'}: missing /codeLists/{list_name}") from None

    def reason_for_status(self, status: str) -> str | None:
        """The reason code a certificate status leads to (CERT_<STATUS>), None for a valid one."""
        return self.code("certificateStatus", status).extra.get("reasonCode")

    def invalid_statuses(self) -> list[str]:
        return [c.code for c in self._code_list("certificateStatus") if c.extra.get("reasonCode")]

    def valid_status(self) -> str:
        return next(c.code for c in self._code_list("certificateStatus") if not c.extra.get("reasonCode"))

    def is_status_code(self, value: Any) -> bool:
        """Whether ``value`` is a well-formed certificate status, known or not.

        Statuses are open-ended (profile.md Clarifications): events and answers carry any code that
        matches common.schema.json's ``certificateStatusCode``; the code list says which are known.
        """
        return self.matches_common("certificateStatusCode", value)

    def matches_common(self, definition: str, value: Any) -> bool:
        """Whether ``value`` is valid against common.schema.json#/$defs/<definition>."""
        validator = self._common_validators.get(definition)
        if validator is None:
            if definition not in self.schema("common").get("$defs", {}):
                raise SpecError(f"{self.root / 'schemas' / 'common.schema.json'}: missing /$defs/{definition}")
            validator = SchemaValidator({"$ref": f"common.schema.json#/$defs/{definition}"},
                                             registry=self.registry)
            self._common_validators[definition] = validator
        return bool(validator.is_valid(value))

    # -- requirements -------------------------------------------------------------------------
    def _load_requirements(self) -> None:
        path = self.root / "requirements.yaml"
        doc = _read_yaml(path)
        self.areas: list[dict[str, str]] = _need(doc, path, "areas")
        self.requirements: dict[str, Requirement] = {}
        for i, r in enumerate(_need(doc, path, "requirements")):
            try:
                req = Requirement(
                    id=r["id"], level=r["level"], area=r["area"], title=r["title"],
                    text_zh=r["text"]["zh"], text_en=r["text"]["en"], verification=r["verification"],
                    capability=r.get("capability"), verified_by=tuple(r.get("verified_by") or ()),
                    suite=r.get("suite", "functional"),
                )
            except (KeyError, TypeError) as exc:
                raise SpecError(f"{path}: /requirements/{i} lacks {exc}") from exc
            if req.id in self.requirements:
                raise SpecError(f"{path}: /requirements/{i} duplicate id {req.id}")
            self.requirements[req.id] = req

    def requirement(self, rid: str) -> Requirement:
        try:
            return self.requirements[rid]
        except KeyError:
            raise KeyError(f"unknown requirement id {rid!r}") from None

    # -- variants -----------------------------------------------------------------------------
    def _load_variants(self) -> None:
        """specs/variants.yaml, validated against its schema; ids are unique and name their requirement."""
        path = self.root / "variants.yaml"
        self.variants: dict[str, Variant] = {}
        if not path.is_file():
            return  # a specs/ folder without a matrix (older copies): requirements only
        doc = _read_yaml(path)
        errors = self.errors("variants", doc)
        if errors:
            raise SpecError(f"{path}: {errors[0]}")
        for rid, items in doc["variants"].items():
            if rid not in self.requirements:
                raise SpecError(f"{path}: /variants/{rid} is not a requirement id")
            for i, v in enumerate(items):
                if v["id"].partition("/")[0] != rid or v["id"] in self.variants:
                    raise SpecError(f"{path}: /variants/{rid}/{i}/id {v['id']} is duplicate or names another requirement")
                self.variants[v["id"]] = Variant(id=v["id"], requirement=rid, kind=v["kind"], technique=v["technique"],
                                                 zh=v["zh"], en=v["en"], source=v.get("source"),
                                                 when=dict(v.get("when") or {}))

    def variants_of(self, rid: str) -> list[Variant]:
        """A requirement's variants in the order variants.yaml lists them."""
        return [v for v in self.variants.values() if v.requirement == rid]

    # -- catalogue ----------------------------------------------------------------------------
    def _load_catalogue(self) -> None:
        path = self.root / "catalogue.yaml"
        doc = _read_yaml(path)
        self.catalogue_revision: str = str(doc.get("revision", ""))
        # Whether the file holds the whole official list. Without it, a code the file lacks is not
        # evidence of a wrong mapping (TERM-03 is then INCONCLUSIVE for it, never FAIL). An official
        # annex installed in a copy of specs/ says ``complete: true``.
        complete = doc.get("complete", False)
        if not isinstance(complete, bool):
            raise SpecError(f"{path}: /complete must be true or false, not {complete!r}")
        self.catalogue_complete: bool = complete
        self.catalogue: dict[str, Product] = {}
        # 2-digit groups (the first two digits of a product code) known to exist, with their names:
        # every category, and the ``groups`` listed without a confirmed product.
        self.catalogue_groups: dict[str, str] = {}
        for ci, cat in enumerate(_need(doc, path, "categories")):
            try:
                self.catalogue_groups[cat["code"]] = cat["name_zh"]
            except (KeyError, TypeError) as exc:
                raise SpecError(f"{path}: /categories/{ci} lacks {exc}") from exc
            for pi, p in enumerate(cat.get("products") or []):
                try:
                    prod = Product(code=p["code"], name_zh=p["name_zh"], name_en=p.get("name_en", ""),
                                   scheme=p.get("scheme", "certificate"), mandatory_from=p.get("mandatory_from"),
                                   category=cat["code"], source=str(p.get("source") or cat.get("source") or ""))
                except (KeyError, TypeError) as exc:
                    raise SpecError(f"{path}: /categories/{ci}/products/{pi} lacks {exc}") from exc
                self.catalogue[prod.code] = prod
        # Whether ``groups`` (with the categories) is every group the numbering has, so that a code in
        # any other group cannot be right even while the product list is incomplete.
        groups_complete = doc.get("groups_complete", False)
        if not isinstance(groups_complete, bool):
            raise SpecError(f"{path}: /groups_complete must be true or false, not {groups_complete!r}")
        self.catalogue_groups_complete: bool = groups_complete
        for gi, group in enumerate(doc.get("groups") or []):
            try:
                self.catalogue_groups.setdefault(group["code"], group["name_zh"])
            except (KeyError, TypeError) as exc:
                raise SpecError(f"{path}: /groups/{gi} lacks {exc}") from exc
        self.catalogue_removed: list[RemovedProduct] = []
        for ri, r in enumerate(doc.get("removed") or []):
            try:
                self.catalogue_removed.append(RemovedProduct(
                    name_zh=r["name_zh"], name_en=r.get("name_en", ""), removed_by=r["removed_by"],
                    code=r.get("code"), source=str(r.get("source") or "")))
            except (KeyError, TypeError) as exc:
                raise SpecError(f"{path}: /removed/{ri} lacks {exc}") from exc
        clash = sorted(r.code for r in self.catalogue_removed if r.code in self.catalogue)
        if clash:
            raise SpecError(f"{path}: /removed: {', '.join(clash)} also listed as current products")

    def removed_product(self, code: str) -> RemovedProduct | None:
        """The removed product that had this code, if a source shows one."""
        return next((r for r in self.catalogue_removed if r.code == code), None)

    # -- schemas ------------------------------------------------------------------------------
    def _load_schemas(self) -> None:
        folder = self.root / "schemas"
        self.schemas: dict[str, dict[str, Any]] = {}
        files = {path: _read_bytes(path) for path in sorted(folder.glob("*.schema.json"))}
        digest = hashlib.sha256()
        for path, data in files.items():
            digest.update(f"{path.name}\0{len(data)}\0".encode())
            digest.update(data)
        self.schemas_digest = digest.hexdigest()
        checked = os.environ.get(SCHEMAS_CHECKED_ENV) == self.schemas_digest
        for path, data in files.items():
            doc = _parse_json(path, data)
            try:
                if not checked:
                    Draft202012Validator.check_schema(doc)
            except SchemaError as exc:
                where = "/".join(str(p) for p in exc.path)
                raise SpecError(f"{path}: /{where} invalid schema ({exc.message})") from exc
            self.schemas[path.name.removesuffix(".schema.json")] = doc
        # Schemas name each other by file name ($id "x.schema.json"), so one registry serves all.
        self.registry: Registry = Registry().with_resources(
            (f"{name}.schema.json", Resource.from_contents(doc, default_specification=DRAFT202012))
            for name, doc in self.schemas.items()
        )

    def schema(self, name: str) -> dict[str, Any]:
        try:
            return self.schemas[name]
        except KeyError:
            raise SpecError(f"{self.root / 'schemas'}: no {name}.schema.json") from None

    def validator(self, name: str) -> Any:
        """A compiled Draft 2020-12 validator with date-time/uri/uuid formats enforced (built once)."""
        if name not in self._validators:
            self._validators[name] = SchemaValidator(self.schema(name), registry=self.registry,
                                                          format_checker=FormatChecker())
        return self._validators[name]

    def errors(self, name: str, doc: Any) -> list[str]:
        """Every validation error as '/json/pointer: message', best first; empty when valid."""
        found = sorted(self.validator(name).iter_errors(doc), key=lambda e: (len(e.absolute_path), e.message))
        return [f"/{'/'.join(str(p) for p in e.absolute_path)}: {e.message}" for e in found]

    def is_valid(self, name: str, doc: Any) -> bool:
        return self.validator(name).is_valid(doc)

    def definition_errors(self, definition: str, value: Any) -> list[str]:
        """Errors of ``value`` against common.schema.json#/$defs/<definition> (e.g. timestamp, uuid): for
        values that travel outside a JSON body, such as the X-Timestamp header."""
        key = f"common#{definition}"
        if key not in self._validators:
            self._validators[key] = SchemaValidator({"$ref": f"common.schema.json#/$defs/{definition}"},
                                                         registry=self.registry, format_checker=FormatChecker())
        return [e.message for e in self._validators[key].iter_errors(value)]

    # -- OpenAPI ------------------------------------------------------------------------------
    def openapi_path(self, name: str) -> Path:
        return self.root / "openapi" / f"{name}.yaml"

    def openapi(self, name: str) -> dict[str, Any]:
        """The OpenAPI document as written, with file references to ../schemas/ left in place."""
        if name not in self._openapi:
            self._openapi[name] = _read_yaml(self.openapi_path(name))
        return self._openapi[name]

    def response_schema_name(self, api: str, path: str, method: str, status: int) -> str | None:
        """The specs/schemas name of the JSON body the OpenAPI ``api`` documents for one answer
        (following components/responses references), or None when that status is not documented."""
        doc = self.openapi(api)
        operation = ((doc.get("paths") or {}).get(path) or {}).get(method.lower())
        if not isinstance(operation, dict):
            return None
        response = (operation.get("responses") or {}).get(str(status))
        for _ in range(5):  # components/responses may refer on; a handful of hops is plenty
            if not (isinstance(response, dict) and "$ref" in response):
                break
            response = self._local_ref(doc, response["$ref"])
        if not isinstance(response, dict):
            return None
        schema = ((response.get("content") or {}).get("application/json") or {}).get("schema") or {}
        ref = schema.get("$ref", "")
        if ".schema.json" not in ref:
            return None
        return ref.rpartition("/")[2].removesuffix(".schema.json")

    @staticmethod
    def _local_ref(doc: dict[str, Any], ref: str) -> Any:
        """'#/components/responses/NotFound' inside ``doc``; None when it leads nowhere."""
        node: Any = doc
        for part in (p for p in ref.removeprefix("#").split("/") if p):
            node = node.get(part) if isinstance(node, dict) else None
        return node

    def openapi_bundled(self, name: str) -> dict[str, Any]:
        """The OpenAPI document with every schema file inlined under components/schemas.

        Tools that do not follow file references (schemathesis given a dict) take this one.
        """
        doc = copy.deepcopy(self.openapi(name))
        comps = doc.setdefault("components", {}).setdefault("schemas", {})

        def comp_name(file: str) -> str:
            return "".join(part.capitalize() for part in file.removesuffix(".schema.json").split("-"))

        def rewrite(node: Any) -> Any:
            if isinstance(node, dict):
                out = {}
                for k, v in node.items():
                    if k == "$ref" and isinstance(v, str) and ".schema.json" in v.partition("#")[0]:
                        file_ref, _, frag = v.partition("#")
                        out[k] = f"#/components/schemas/{comp_name(file_ref.rpartition('/')[2])}{frag}"
                    elif k in {"$id", "$schema"} and isinstance(v, str):
                        continue  # file-level identity means nothing once inlined
                    else:
                        out[k] = rewrite(v)
                return out
            if isinstance(node, list):
                return [rewrite(v) for v in node]
            return node

        for file, schema in self.schemas.items():
            comps[comp_name(f"{file}.schema.json")] = rewrite(schema)
        for key in list(doc):
            if key != "components":
                doc[key] = rewrite(doc[key])
        doc["components"] = {k: (rewrite(v) if k != "schemas" else v) for k, v in doc["components"].items()}
        return doc

    # -- integrity ----------------------------------------------------------------------------
    def file_hashes(self) -> dict[str, str]:
        """SHA-256 of every file under specs/, keyed by its path relative to specs/."""
        return {str(p.relative_to(self.root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in self.files()}

    def files(self) -> Iterator[Path]:
        return (p for p in sorted(self.root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts)


def checked_env(s: Specs) -> dict[str, str]:
    """Environment for a child process that will load the same specs folder: its schemas were checked here."""
    return {SCHEMAS_CHECKED_ENV: s.schemas_digest}


@functools.cache
def load(root: str | None = None) -> Specs:
    """The Specs of ``root`` (default: :func:`specs_dir`), loaded once per process."""
    return Specs(Path(root) if root else specs_dir())
