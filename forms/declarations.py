"""Forms as data: the declarations in ``bpmn/forms/`` become marshmallow schemas when they are read.

A folder of declarations (README, "Forms") holds:

- ``<key>.form.json``: one form, found by the form key a BPMN user task names. Its ``title``, what a
  person is told once it is signed (``done``), its ``fields`` and ``rules``, the ``variables`` it hands the process, and ``case``: which of its fields
  give the case its county office and its title.
- ``<name>.section.json``: a section several forms share (``{"type": "section", "section": name}``).
- ``choices.json``: the choice sets, each a mapping of code to Persian label.

A field is ``{"name", "label", "type", ...}`` with ``help`` and ``required`` (default true) besides
the attributes of its type (`FIELD_TYPES`); a choice field names a set of ``choices.json`` or lists
its own choices (code → label). A rule checks fields of one section against each other:
``{"when"|"unless": {field: value or [values]}, "require"|"forbid": field, "min_length"?, "message"}``.
A variable is a dotted path into the cleaned data, or ``{"value": path, "default": x}``,
``{"age": date path}``, ``{"count": list path}``, ``{"lookup": name, "of": path}`` (a fact the caller
looks up, such as how many centers a person manages); nested objects group them.

The declarations are part of every procedure version (``engine.read_sources``): a running case
keeps the forms it started with. Shape and content only: eligibility is decided by the DMN tables.
"""

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field as dataclass_field
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, validates_schema
from marshmallow.exceptions import SCHEMA
from marshmallow.fields import Field

from forms.errors import FormError, FormsError, UnknownFormError
from forms.fields import (
    Choice, Code, Email, FormField, JalaliDate, Mobile, NationalId, Person, PostalCode, Section, SectionList, Sha256,
    StrictBool, StrictInt, Text,
)
from forms.messages import t
from forms.persian import age_on, to_persian_digits

__all__ = [
    "CASE_FIELDS", "FIELD_TYPES", "FORM_SUFFIX", "SECTION_SUFFIX", "CHOICES_FILE", "DeclarationError",
    "FormSchema", "FormSet", "FormSpec", "load",
]

FORM_SUFFIX = ".form.json"
SECTION_SUFFIX = ".section.json"
CHOICES_FILE = "choices.json"
#: what a form's ``case`` may set: the case's county office (an office-code field), its title, and the
#: national ids (fields of the national_id type) with which the case's tracking code may be followed
CASE_FIELDS = ("county", "title", "national_id")

_COMMON = {"name", "label", "type", "help", "required"}
#: every field type a declaration may use, with its attributes: (attribute, python type, required)
FIELD_TYPES: Mapping[str, tuple[tuple[str, Any, bool], ...]] = MappingProxyType({
    "text": (("max_length", int, True), ("min_length", int, False), ("multiline", bool, False)),
    "code": (("max_length", int, True), ("min_length", int, False), ("office", str, False)),
    "email": (),
    "national_id": (),
    "postal_code": (),
    "mobile": (),
    "document": (("camera", bool, False),),
    "date": (("past", bool, False), ("future", bool, False)),
    "choice": (("choices", (str, dict), True),),
    "person": (("lane", str, True),),
    "boolean": (("must_be_true", bool, False),),
    "integer": (("min", int, True), ("max", int, True)),
    "section": (("fields", list, False), ("section", str, False), ("rules", list, False)),
    "list": (("fields", list, False), ("section", str, False), ("rules", list, False), ("min_items", int, True),
             ("max_items", int, True), ("unique", list, False), ("item_label", str, False)),
})
_VARIABLE_KINDS = ("value", "age", "count", "lookup")


class DeclarationError(FormsError):
    """Declarations that cannot become forms; ``problems`` lists every one (file: where: what)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class FormSchema(Schema):
    """Base of every form schema: unknown fields are errors, messages are Persian."""

    class Meta:
        unknown = RAISE

    error_messages: dict[str, str] = {
        "type": t("errors.not_an_object"),
        "unknown": t("errors.unknown_field"),
    }


def load(schema: type[Schema], data: Any) -> dict[str, Any]:
    """Return ``data`` cleaned by ``schema``, or raise `FormError` (dotted keys, Persian messages)."""
    try:
        cleaned: dict[str, Any] = schema().load(data)
    except ValidationError as error:
        errors: dict[str, list[str]] = {}
        _flatten(error.messages, "", errors)
        raise FormError(errors) from None
    return cleaned


def _flatten(messages: Any, path: str, flat: dict[str, list[str]]) -> None:
    # marshmallow nests errors ({"founding_board": {2: {"national_id": [...]}}});
    # a section's own "_schema" errors belong to the section's path.
    if isinstance(messages, dict):
        for name, nested in messages.items():
            child = path if name == SCHEMA else f"{path}.{name}" if path else str(name)
            _flatten(nested, child, flat)
    elif isinstance(messages, list):
        for item in messages:
            _flatten(item, path, flat)
    else:
        flat.setdefault(path or SCHEMA, []).append(str(messages))


Lookup = Callable[[str, Any], Any]


def _person_fields(schema: Schema, path: str = "") -> dict[str, str]:
    """The person fields of a schema by dotted path (sections walked, lists not): the lane of each."""
    found: dict[str, str] = {}
    for name, field in schema.fields.items():
        here = f"{path}.{name}" if path else name
        if isinstance(field, Person):
            found[here] = field.lane
        elif isinstance(field, Section):
            found.update(_person_fields(field.schema, here))
    return found


@dataclass(frozen=True)
class FormSpec:
    """A form a user task shows, found by the task's form key."""

    #: The form key, as written on the BPMN user task.
    key: str
    #: The form's Persian title.
    title: str
    #: What a person is told once the form is signed (None: the product's general words).
    done: str | None
    #: The marshmallow schema that cleans submitted data.
    schema: type[Schema]
    #: Persian label of every field by dotted path (a list's items without an index: ``board.name``).
    labels: Mapping[str, str]
    #: Help text of the fields that have some, by the same paths.
    helps: Mapping[str, str]
    #: Dotted paths of the document fields (each holds the SHA-256 of an uploaded file).
    documents: tuple[str, ...]
    #: Fields that hold an office's code, by path: the kind of office.
    offices: Mapping[str, str]
    #: What the form sets on its case (`CASE_FIELDS`), by the path of the field that gives it.
    case_fields: Mapping[str, str]
    #: The declared variables (see the module's docstring).
    variables: Mapping[str, Any] = dataclass_field(default_factory=dict)
    #: The person fields by dotted path (outside lists): the lane whose office's people each names.
    people: Mapping[str, str] = dataclass_field(default_factory=dict)

    def validate(self, data: Any) -> dict[str, Any]:
        """Return the cleaned, JSON-safe data, or raise `FormError` (dotted keys)."""
        return load(self.schema, data)

    def workflow_variables(self, cleaned: dict[str, Any], on_date: date, lookup: Lookup | None = None) -> dict[str, Any]:
        """The variables the process reads (gateways, DMN tables) from cleaned data on the day of
        submission; ``lookup(name, value)`` answers the looked-up facts (left out without it)."""
        return _resolve(self.variables, cleaned, on_date, lookup)

    @staticmethod
    def value(cleaned: dict[str, Any], path: str) -> Any:
        """The value at a dotted path of cleaned data (None when the optional field was left out)."""
        value = _at(cleaned, path)
        return None if value is _MISSING else value

    def lookups(self) -> set[str]:
        """The names of the facts the form's variables look up."""
        return set(_lookups(self.variables))

    def label(self, path: str) -> str:
        """The Persian label of a field (its path, list indexes left out)."""
        return self.labels.get(".".join(p for p in path.split(".") if not p.isdigit() and p != "*"), path)

    def whose(self, path: str) -> str:
        """A field's name that says whose it is, read from the inside out: «کد ملی مدیر پیشنهادی»,
        «کد ملی ردیف ۲ هیئت مؤسس» (a path without a label of its own reads as its nearest labelled one)."""
        parts = path.split(".")
        words: list[str] = []
        for end in range(len(parts), 0, -1):
            part = parts[end - 1]
            if part.isdigit():
                words.append(t("errors.row", n=to_persian_digits(str(int(part) + 1))))
                continue
            label_path = ".".join(p for p in parts[:end] if not p.isdigit())
            if label_path in self.labels:
                words.append(self.labels[label_path])
                # a label no other field has says enough on its own, unless it is a list's item
                if len(words) == 1 and list(self.labels.values()).count(words[0]) == 1 and not any(
                        p.isdigit() for p in parts):
                    break
        return " ".join(words) or path

    def describe(self) -> dict[str, Any]:
        """A JSON-able description: key, title and fields with Persian labels, types and constraints."""
        return {"key": self.key, "title": self.title, "fields": self._describe_fields(self.schema(), "")}

    def _describe_fields(self, schema: Schema, path: str) -> list[dict[str, Any]]:
        described = []
        for name, field in schema.fields.items():
            field_path = f"{path}.{name}" if path else name
            label_path = field_path.replace(".*", "")
            entry: dict[str, Any] = {"name": name, "path": field_path, "label": self.labels[label_path]}
            if isinstance(field, SectionList):
                entry |= field.describe()
                entry["fields"] = self._describe_fields(field.section.schema, f"{field_path}.*")
            elif isinstance(field, Section):
                entry |= field.describe()
                entry["fields"] = self._describe_fields(field.schema, field_path)
            elif isinstance(field, FormField):
                entry |= field.describe()
            if label_path in self.helps:
                entry["help"] = self.helps[label_path]
            if label_path in self.offices:
                entry["office"] = self.offices[label_path]
            described.append(entry)
        return described


@dataclass(frozen=True)
class FormSet:
    """The forms of one version of the declarations, by key, and their choice sets."""

    forms: Mapping[str, FormSpec]
    #: choice sets: name → code → Persian label
    choices: Mapping[str, Mapping[str, str]]

    def get(self, key: str) -> FormSpec:
        """The form declared under ``key``, or raise `UnknownFormError`."""
        try:
            return self.forms[key]
        except KeyError:
            raise UnknownFormError(key) from None

    def validate(self, key: str, data: Any) -> dict[str, Any]:
        """Return the cleaned data of form ``key``, or raise `FormError` (dotted keys, Persian messages)."""
        return self.get(key).validate(data)

    def describe(self, key: str) -> dict[str, Any]:
        """The JSON-able description of form ``key``."""
        return self.get(key).describe()

    def choice_label(self, choice_set: str, code: str | None) -> str:
        """The Persian label of a code of a choice set (the code itself when unknown)."""
        return self.choices.get(choice_set, {}).get(code or "", code or "")

    @classmethod
    def read(cls, folder: Path) -> "FormSet":
        """Read every declaration file of a folder (not below it)."""
        return cls.build({path.name: json.loads(path.read_text("utf-8")) for path in sorted(Path(folder).glob("*.json"))})

    @classmethod
    def build(cls, declarations: Mapping[str, Any]) -> "FormSet":
        """Build the forms from parsed declaration files by name, or raise `DeclarationError` listing every
        problem."""
        return _Builder(declarations).build()


# --- building ---------------------------------------------------------------------------------------

class _Builder:
    """One pass over the declarations: builds each form, collecting every problem instead of stopping."""

    def __init__(self, declarations: Mapping[str, Any]) -> None:
        self.problems: list[str] = []
        self.declarations: dict[str, Any] = {}
        for name, declaration in sorted(declarations.items()):
            if not (name.endswith(FORM_SUFFIX) or name.endswith(SECTION_SUFFIX) or name == CHOICES_FILE):
                self.problems.append(f"{name}: a forms file is <key>{FORM_SUFFIX}, <name>{SECTION_SUFFIX} or {CHOICES_FILE}")
                continue
            if not isinstance(declaration, dict):
                self.problems.append(f"{name}: must be a JSON object")
                continue
            self.declarations[name] = declaration
        self.choices = self._choices(self.declarations.get(CHOICES_FILE, {}))
        #: the shared sections a form uses (the others are built once on their own, to be checked)
        self.sections: dict[str, None] = {}

    def problem(self, where: str, text: str) -> None:
        self.problems.append(f"{where}: {text}")

    def _choices(self, declared: dict) -> dict[str, dict[str, str]]:
        choices: dict[str, dict[str, str]] = {}
        for set_name, codes in declared.items():
            if not isinstance(codes, dict) or not codes or not all(
                    isinstance(code, str) and code and isinstance(label, str) and label.strip()
                    for code, label in codes.items()):
                self.problem(f"{CHOICES_FILE}: {set_name}", "a choice set maps codes to Persian labels (at least one)")
                continue
            choices[set_name] = dict(codes)
        return choices

    def build(self) -> FormSet:
        built: dict[str, FormSpec] = {}
        for name, declaration in self.declarations.items():
            if name.endswith(FORM_SUFFIX):
                spec = self._form(name[:-len(FORM_SUFFIX)], name, declaration)
                if spec is not None:
                    built[spec.key] = spec
        for name in self.declarations:
            if name.endswith(SECTION_SUFFIX) and name[:-len(SECTION_SUFFIX)] not in self.sections:
                self._shared_section(name[:-len(SECTION_SUFFIX)], name)  # an unused one is checked too
        if self.problems:
            raise DeclarationError(self.problems)
        return FormSet(MappingProxyType(dict(sorted(built.items()))),
                       MappingProxyType({k: MappingProxyType(v) for k, v in self.choices.items()}))

    def _form(self, key: str, filename: str, declaration: dict) -> FormSpec | None:
        before = len(self.problems)
        unknown = set(declaration) - {"title", "done", "fields", "rules", "variables", "case", "_comment"}
        if unknown:
            self.problem(filename, f"unknown keys {sorted(unknown)}")
        title = declaration.get("title")
        if not isinstance(title, str) or not title.strip():
            self.problem(filename, "title: a Persian title is required")
        done = declaration.get("done")
        if done is not None and (not isinstance(done, str) or not done.strip()):
            self.problem(filename, "done: the Persian words shown once the form is signed, or nothing")
        labels: dict[str, str] = {}
        helps: dict[str, str] = {}
        offices: dict[str, str] = {}
        documents: list[str] = []
        kinds: dict[str, str] = {}
        schema = self._schema(f"{filename}: ", key, declaration, "", labels, helps, offices, documents, kinds)
        variables = declaration.get("variables", {})
        self._check_variables(filename, variables, kinds, "variables")
        case_fields = declaration.get("case", {})
        if not isinstance(case_fields, dict):
            self.problem(filename, "case: must be an object")
            case_fields = {}
        case_fields = dict(case_fields)
        if "national_id" in case_fields:  # one path or a list of them: the people who may follow the case
            paths = case_fields["national_id"]
            paths = [paths] if isinstance(paths, str) else paths
            if not isinstance(paths, list) or not paths or not all(
                    isinstance(p, str) and kinds.get(p) == "national_id" and "*" not in p for p in paths):
                self.problem(filename, "case.national_id: a national_id field outside a list, or a list of them")
            case_fields["national_id"] = tuple(paths) if isinstance(paths, list) else ()
        for what, path in case_fields.items():
            if what not in CASE_FIELDS:
                self.problem(filename, f"case.{what}: a form may set only {', '.join(CASE_FIELDS)}")
            elif what == "national_id":
                continue
            elif not isinstance(path, str) or path not in kinds or "*" in path:
                self.problem(filename, f"case.{what}: {path!r} is not a field of the form outside a list")
            elif what == "county" and offices.get(path) != "county":
                self.problem(filename, f"case.county: {path!r} must be a code field with \"office\": \"county\"")
        if len(self.problems) > before or schema is None:
            return None
        schema.__doc__ = title
        return FormSpec(key=key, title=title, done=done, schema=schema, labels=MappingProxyType(labels),
                        helps=MappingProxyType(helps), documents=tuple(documents), offices=MappingProxyType(offices),
                        case_fields=MappingProxyType(dict(case_fields)),
                        variables=MappingProxyType(variables if isinstance(variables, dict) else {}),
                        people=MappingProxyType(_person_fields(schema())))

    def _schema(self, where: str, key: str, container: dict, path: str, labels: dict, helps: dict, offices: dict,
                documents: list, kinds: dict) -> type[Schema] | None:
        declared = container.get("fields")
        if not isinstance(declared, list) or not declared:
            self.problem(f"{where}{path or 'fields'}", "a form or section needs a list of fields")
            return None
        attrs: dict[str, Any] = {}
        for number, entry in enumerate(declared, start=1):
            field = self._field(where, key, entry, path, number, labels, helps, offices, documents, kinds)
            if field is None:
                continue
            if entry["name"] in attrs:
                self.problem(f"{where}{path}.{entry['name']}".replace(": .", ": "), "a field name used twice")
            attrs[entry["name"]] = field
        rules = container.get("rules", [])
        hook = self._rules(f"{where}{path + '.' if path else ''}rules", rules, declared)
        if hook is not None:
            attrs["_check_rules"] = hook
        return type(f"{key}:{path or 'form'}", (FormSchema,), attrs)

    def _field(self, where: str, key: str, entry: Any, parent: str, number: int, labels: dict, helps: dict,
               offices: dict, documents: list, kinds: dict) -> Field | None:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            self.problem(f"{where}{parent or 'fields'}", f"field {number} needs a name")
            return None
        name = entry["name"]
        path = f"{parent}.{name}" if parent else name
        here = f"{where}{path}"
        if not name.isidentifier() or not name.isascii() or name.startswith("_"):
            self.problem(here, "a field name is ASCII letters, digits and _, not starting with _ or a digit")
            return None
        kind = entry.get("type")
        if kind not in FIELD_TYPES:
            self.problem(here, f"unknown type {kind!r} (one of {', '.join(FIELD_TYPES)})")
            return None
        attributes = {a: (python_type, required) for a, python_type, required in FIELD_TYPES[kind]}
        for attribute in set(entry) - _COMMON - set(attributes):
            self.problem(here, f"{attribute!r} is not an attribute of a {kind} field")
        for attribute, (python_type, required) in attributes.items():
            if attribute in entry:
                value = entry[attribute]
                if not isinstance(value, python_type) or (python_type is int and isinstance(value, bool)):
                    kinds_named = " or ".join(t.__name__ for t in (python_type if isinstance(python_type, tuple) else (python_type,)))
                    self.problem(f"{here}.{attribute}", f"must be {kinds_named}")
                    return None
            elif required:
                self.problem(here, f"a {kind} field needs {attribute!r}")
                return None
        label = entry.get("label")
        if not isinstance(label, str) or not label.strip():
            self.problem(here, "a Persian label is required")
            return None
        labels[path] = label
        if "help" in entry:
            if not isinstance(entry["help"], str) or not entry["help"].strip():
                self.problem(f"{here}.help", "must be text")
            else:
                helps[path] = entry["help"]
        required = entry.get("required", True)
        if not isinstance(required, bool):
            self.problem(f"{here}.required", "must be true or false")
            return None
        kinds[path] = kind
        try:
            return self._make(where, here, key, kind, entry, path, required, labels, helps, offices, documents, kinds)
        except (TypeError, ValueError) as error:
            self.problem(here, str(error))
            return None

    def _make(self, where: str, here: str, key: str, kind: str, entry: dict, path: str, required: bool, labels: dict, helps: dict,
              offices: dict, documents: list, kinds: dict) -> Field | None:
        if kind in ("text", "code"):
            maximum, minimum = entry["max_length"], entry.get("min_length", 1)
            if not 1 <= minimum <= maximum <= 100_000:
                raise ValueError("needs 1 ≤ min_length ≤ max_length ≤ 100000")
            if kind == "code":
                if "office" in entry:
                    offices[path] = entry["office"]
                return Code(maximum, min_length=minimum, required=required)
            return Text(maximum, min_length=minimum, multiline=entry.get("multiline", False), required=required)
        if kind == "person":
            if entry["lane"] not in ("county", "province"):
                raise ValueError("lane: the people of a case's office lane: county or province")
            if "*" in path or any(kinds.get(p) == "list" for p in _prefixes(path)):
                raise ValueError("a person field may not be inside a list")
            return Person(entry["lane"], required=required)
        if kind == "integer":
            if entry["min"] > entry["max"] or max(abs(entry["min"]), abs(entry["max"])) >= 2**53:
                raise ValueError("needs min ≤ max, both within ±2^53")
            return StrictInt(entry["min"], entry["max"], required=required)
        if kind == "choice":
            choices = entry["choices"]
            if isinstance(choices, dict):  # the form's own choices, code → label
                if not choices or not all(isinstance(c, str) and c and isinstance(label, str) and label.strip()
                                          for c, label in choices.items()):
                    raise ValueError("choices: codes to Persian labels, at least one")
                return Choice(dict(choices), required=required)
            if choices not in self.choices:
                raise ValueError(f"choices: no choice set {choices!r} in {CHOICES_FILE}")
            return Choice(self.choices[choices], required=required)
        if kind == "date":
            return JalaliDate(past=entry.get("past", False), future=entry.get("future", False), required=required)
        if kind == "boolean":
            return StrictBool(must_be_true=entry.get("must_be_true", False), required=required)
        if kind == "document":
            if "*" in path or any(kinds.get(p) == "list" for p in _prefixes(path)):
                raise ValueError("a document field may not be inside a list")
            documents.append(path)
            return Sha256(camera=entry.get("camera", False), required=required)
        if kind in ("section", "list"):
            schema = self._nested(where, here, key, entry, path, labels, helps, offices, documents, kinds)
            if schema is None:
                return None
            if kind == "section":
                return Section(schema, required=required)
            unique = entry.get("unique", [])
            if not 0 <= entry["min_items"] <= entry["max_items"] <= 1000:
                raise ValueError("needs 0 ≤ min_items ≤ max_items ≤ 1000")
            if not all(isinstance(u, str) and u in schema._declared_fields for u in unique):
                raise ValueError("unique: names fields of the list's items")
            return SectionList(schema, min_items=entry["min_items"], max_items=entry["max_items"],
                               unique=tuple(unique), item_label=entry.get("item_label"), required=required)
        simple = {"email": Email, "national_id": NationalId, "postal_code": PostalCode, "mobile": Mobile}
        return simple[kind](required=required)

    def _nested(self, where: str, here: str, key: str, entry: dict, path: str, labels: dict, helps: dict, offices: dict,
                documents: list, kinds: dict) -> type[Schema] | None:
        if ("fields" in entry) == ("section" in entry):
            self.problem(here, "a section or list has either its own fields or a shared section, not both")
            return None
        if "fields" in entry:
            return self._schema(where, key, entry, path, labels, helps, offices, documents, kinds)
        name = entry["section"]
        filename = f"{name}{SECTION_SUFFIX}"
        if filename not in self.declarations:
            self.problem(here, f"section: no file {filename}")
            return None
        shared = self.declarations[filename]
        unknown = set(shared) - {"fields", "rules", "_comment"}
        if unknown:
            self.problem(filename, f"unknown keys {sorted(unknown)}")
        # Labels and kinds are the form's, under this field's path; the schema is built per use.
        self.sections[name] = None
        return self._schema(f"{filename}: ", key, shared, path, labels, helps, offices, documents, kinds)

    def _shared_section(self, name: str, filename: str) -> None:
        self._schema(f"{filename}: ", name, self.declarations[filename], "", {}, {}, {}, [], {})

    def _rules(self, where: str, rules: Any, declared: list) -> Any:
        if not isinstance(rules, list):
            self.problem(where, "must be a list")
            return None
        if not rules:
            return None
        fields = {entry.get("name"): entry for entry in declared if isinstance(entry, dict)}
        checked: list[dict] = []
        for number, rule in enumerate(rules, start=1):
            here = f"{where}[{number}]"
            if not isinstance(rule, dict):
                self.problem(here, "must be an object")
                continue
            unknown = set(rule) - {"when", "unless", "require", "forbid", "min_length", "message"}
            if unknown:
                self.problem(here, f"unknown keys {sorted(unknown)}")
            condition = [c for c in ("when", "unless") if c in rule]
            check = [c for c in ("require", "forbid") if c in rule]
            if len(condition) != 1 or len(check) != 1:
                self.problem(here, "a rule has one of when/unless and one of require/forbid")
                continue
            target = rule[check[0]]
            if target not in fields:
                self.problem(here, f"{check[0]}: {target!r} is not a field here")
            elif fields[target].get("required", True):
                self.problem(here, f"{check[0]}: {target!r} must be declared \"required\": false")
            when = rule[condition[0]]
            if not isinstance(when, dict) or not when:
                self.problem(here, f"{condition[0]}: an object of field: value or [values]")
            else:
                for name in when:
                    if name not in fields or fields[name].get("required", True) is False:
                        self.problem(here, f"{condition[0]}: {name!r} is not a required field here")
            if "min_length" in rule and (check[0] != "require" or not isinstance(rule["min_length"], int)
                                          or isinstance(rule["min_length"], bool)):
                self.problem(here, "min_length: a whole number, with require")
            if not isinstance(rule.get("message"), str) or not rule["message"].strip():
                self.problem(here, "message: the Persian message shown when the rule fails")
            checked.append(rule)
        return _rules_hook(checked)

    def _check_variables(self, where: str, variables: Any, kinds: dict, path: str) -> None:
        if not isinstance(variables, dict):
            self.problem(where, f"{path}: must be an object")
            return
        for name, declared in variables.items():
            here = f"{path}.{name}"
            if not isinstance(name, str) or not name.isidentifier():
                self.problem(where, f"{here}: a variable name is letters, digits and _")
            elif isinstance(declared, str):
                self._check_path(where, here, declared, kinds, None)
            elif isinstance(declared, dict) and set(declared) & set(_VARIABLE_KINDS):
                kind = next(k for k in _VARIABLE_KINDS if k in declared)
                allowed = {"value": {"value", "default"}, "age": {"age"}, "count": {"count"}, "lookup": {"lookup", "of"}}
                if set(declared) != allowed[kind] and not (kind == "value" and set(declared) == {"value"}):
                    self.problem(where, f"{here}: {kind} takes exactly {sorted(allowed[kind])}")
                elif kind == "lookup":
                    if not isinstance(declared["lookup"], str):
                        self.problem(where, f"{here}.lookup: a name")
                    self._check_path(where, f"{here}.of", declared["of"], kinds, None)
                else:
                    need = {"value": None, "age": "date", "count": "list"}[kind]
                    self._check_path(where, f"{here}.{kind}", declared[kind], kinds, need)
            elif isinstance(declared, dict):
                self._check_variables(where, declared, kinds, here)
            else:
                self.problem(where, f"{here}: a field path or an object")

    def _check_path(self, where: str, here: str, path: Any, kinds: dict, need: str | None) -> None:
        if not isinstance(path, str) or path not in kinds:
            self.problem(where, f"{here}: {path!r} is not a field of the form")
        elif need is not None and kinds[path] != need:
            self.problem(where, f"{here}: {path!r} is a {kinds[path]} field, not a {need}")
        elif any(kinds.get(p) == "list" for p in _prefixes(path)):
            self.problem(where, f"{here}: {path!r} is inside a list")


def _prefixes(path: str) -> Iterator[str]:
    parts = path.split(".")
    for end in range(1, len(parts)):
        yield ".".join(parts[:end])


def _matches(data: dict, condition: dict) -> bool:
    return all(data.get(name) in (wanted if isinstance(wanted, list) else [wanted])
               for name, wanted in condition.items())


def _rules_hook(rules: list[dict]) -> Any:
    def check_rules(self: Schema, data: dict[str, Any], **kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        for rule in rules:
            applies = _matches(data, rule["when"]) if "when" in rule else not _matches(data, rule["unless"])
            if not applies:
                continue
            if "require" in rule:
                target = rule["require"]
                value = data.get(target)
                broken = value is None or len(str(value)) < rule.get("min_length", 0)
            else:
                target = rule["forbid"]
                broken = data.get(target) not in (None, 0)
            if broken:
                errors.setdefault(target, []).append(rule["message"])
        if errors:
            raise ValidationError(errors)

    return validates_schema(check_rules)


# --- variables ---------------------------------------------------------------------------------------

_MISSING = object()


def _at(cleaned: dict, path: str) -> Any:
    value: Any = cleaned
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _resolve(variables: Mapping[str, Any], cleaned: dict, on_date: date, lookup: Lookup | None) -> dict[str, Any]:
    resolved: dict[str, Any] = {}
    for name, declared in variables.items():
        if isinstance(declared, str):
            value = _at(cleaned, declared)
            resolved[name] = None if value is _MISSING else value
        elif "value" in declared:
            value = _at(cleaned, declared["value"])
            resolved[name] = declared.get("default") if value is _MISSING else value
        elif "age" in declared:
            born = _at(cleaned, declared["age"])
            resolved[name] = None if born is _MISSING else age_on(date.fromisoformat(born), on_date)
        elif "count" in declared:
            items = _at(cleaned, declared["count"])
            resolved[name] = 0 if items is _MISSING else len(items)
        elif "lookup" in declared:
            if lookup is not None:
                value = _at(cleaned, declared["of"])
                resolved[name] = lookup(declared["lookup"], None if value is _MISSING else value)
        else:
            resolved[name] = _resolve(declared, cleaned, on_date, lookup)
    return resolved


def _lookups(variables: Mapping[str, Any]) -> Iterator[str]:
    for declared in variables.values():
        if isinstance(declared, dict):
            if "lookup" in declared:
                yield declared["lookup"]
            elif not set(declared) & set(_VARIABLE_KINDS):
                yield from _lookups(declared)
