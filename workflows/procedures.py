"""Procedures as data: what each procedure means, read from its manifest.

A procedure is a package in ``bpmn/``: its BPMN diagram ``<key>.bpmn`` and its manifest
``<key>.procedure.json`` beside it (README, "Procedures"), with the shared rule tables and data
tables. The manifest says who may start the procedure and what it needs, the status a case shows
while each task or message waits, the action each completed task signs, the steps an applicant
sees, what each end event means (its status, what it writes to the registry, the certificate it
issues) and the Persian words for all of them.

The manifest is one of the version's sources: a case is read with the manifest of the version it
runs on (``of_version``); lists that span procedures read the newest deployed versions (``Catalogue``).
No Python code names a procedure, a task, a status or a step; the product's own mechanisms are
named here once: the registry effects an end event may have, and who sends a message.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import engine
import forms
from workflows.access import LANE_ROLES
from workflows.lookups import LOOKUPS
from workflows.errors import ProcessFailed
from workflows.models import Case, ProcessDefinition

__all__ = [
    "DRAFT", "DECISION_ACTIONS", "OUTCOME_ACTIONS", "LICENSE_EFFECTS", "MESSAGE_SENDERS", "NEEDS", "Status", "TaskMeaning",
    "MessageMeaning", "EndMeaning", "Step", "RuleTable", "Procedure", "rule_tables", "rule_problems", "Catalogue", "ManifestError", "parse", "problems", "spec_of", "spec_of_case",
    "of_version", "catalogue", "newest_tables", "package_keys", "form_set", "task_titles", "product_names_action",
]

#: the status of every case until its first signed record (every manifest gives it a label)
DRAFT = "draft"
#: signed actions that decide at one level (the choices of a review decision; people are told of each)
DECISION_ACTIONS = ("approve", "return", "reject")
#: what an end event may write to the registry (``ends.<event>.effect``); each is also the action of the
#: record that signs what it wrote (``transitions`` carries them out)
OUTCOME_ACTIONS = ("issue_license", "appoint_manager", "appoint_interim", "renew_term", "suspend_license",
                   "lift_suspension", "revoke_license", "close_center", "approve_signboard")
#: the effects that set a license's status (``LICENSE_EFFECTS[effect]`` is the status it sets)
LICENSE_EFFECTS = {"suspend_license": "suspended", "lift_suspension": "active", "revoke_license": "revoked",
                   "close_center": "closed"}
#: what sends a message a case waits for (``messages.<name>.sent_by``): the last answer of a round of
#: inquiries, or the appointment of a successor by a manager change started for the case
MESSAGE_SENDERS = ("inquiries", "successor")
#: what starting a procedure may need: an existing center, a current manager of it (appointed, not an
#: interim: ``appointed_manager``), its license in force (not suspended), or its license suspended. A
#: center whose license was revoked or closed starts nothing.
NEEDS = ("center", "current_manager", "appointed_manager", "license_in_force", "license_suspended")
#: a status code (stored with the case, at most 32 characters) and an action (stored with each record)
_CODE = re.compile(r"[a-z][a-z0-9_]{0,31}")


class ManifestError(engine.SpecError):
    """A manifest that cannot be read, or does not fit its diagram; ``problems`` lists every one."""

    def __init__(self, process_key: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{process_key}{engine.MANIFEST_SUFFIX}: " + "; ".join(problems))


@dataclass(frozen=True)
class Status:
    label: str
    #: what the applicant is told to do next while (or once) the case is in this status, if anything particular
    next: str | None = None


@dataclass(frozen=True)
class TaskMeaning:
    #: the case's status while the task waits
    status: str
    #: the action its completion signs, or None when ``action_field`` names the form field that holds it
    action: str | None
    action_field: str | None = None
    #: the review that decides on the inquiries' answers (approving over unanswered ones needs a reason)
    decides_inquiries: bool = False
    #: a dotted path into the process data whose value is the username of the person of the task's office
    #: who holds the task when it arrives (the expert a schedule named); nobody there: the office's queue
    holder: str | None = None
    #: form fields whose values a center signs once in this procedure (a season's report: its year and
    #: season); the same values already signed in another of the center's cases of it are refused
    once_per_center: tuple[str, ...] = ()
    #: its approval confirms the proposed manager (the license, the appointment, the renewal): the training
    #: rule the application signed (``manager_training.dmn``) is checked here, "before" needing a completion
    confirms_manager: bool = False


@dataclass(frozen=True)
class MessageMeaning:
    status: str
    #: one of MESSAGE_SENDERS
    sent_by: str


@dataclass(frozen=True)
class EndMeaning:
    status: str
    #: one of OUTCOME_ACTIONS, or None when the end writes nothing to the registry
    effect: str | None = None
    #: the title of the certificate a case that ended here issues (None: a plain status certificate)
    certificate: str | None = None


@dataclass(frozen=True)
class Step:
    name: str
    label: str
    #: the case statuses that mean the case is at this step
    statuses: tuple[str, ...]


@dataclass(frozen=True)
class RuleTable:
    """A rule table as people read it: what it checks (each fact's Persian label) and each rule's
    sentence, the message a case that breaks it shows. The conditions stay in the DMN file."""

    decision: str
    title: str
    #: (fact, Persian label) of each input that reads ``application["facts"][fact]``
    facts: tuple[tuple[str, str], ...]
    #: (rule code, Persian message) of each row
    rules: tuple[tuple[str, str], ...]
    #: the process variable its outputs set (``manager_violations``, ``manager_training``)
    variable: str = ""
    #: True for a table of violations (COLLECT: every row that holds is a broken rule); False for a table
    #: that decides (the first row that holds says what applies, as ``manager_training``)
    collects: bool = True
    #: each row's outputs by name, as written (a string's quotes stripped)
    rows: tuple[Mapping[str, str], ...] = ()

    @property
    def fact_labels(self) -> dict[str, str]:
        return dict(self.facts)


_DMN_TAGS = {"decision", "decisionTable", "input", "inputExpression", "text", "output", "rule", "outputEntry"}
_FACT = re.compile(r"""\[["']facts["']\]\[["'](\w+)["']\]""")
_CALLED = re.compile(r"<spiffworkflow:calledDecisionId>\s*([\w-]+)\s*</spiffworkflow:calledDecisionId>")


def rule_tables(process_key: str, sources: Mapping[str, str]) -> tuple[RuleTable, ...]:
    """The rule tables the process's diagram calls, read from the DMN sources beside it."""
    return _read_rule_tables(process_key, sources)[0]


def rule_problems(process_key: str, sources: Mapping[str, str]) -> list[str]:
    """Where a rule's sentence would tell people something else than its condition: every rule of a
    table the process calls has a message, and the message states each number (but 0) its condition
    compares with, so that a threshold changed in the table and not in its words is refused when
    deployed: the form states the rules to applicants in these words."""
    return _read_rule_tables(process_key, sources)[1]


_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")


def _read_rule_tables(process_key: str, sources: Mapping[str, str]) -> tuple[tuple[RuleTable, ...], list[str]]:
    called = _CALLED.findall(sources.get(f"{process_key}.bpmn", ""))
    found_problems: list[str] = []
    tables: dict[str, RuleTable] = {}
    for name, text in sources.items():
        if not name.endswith(".dmn"):
            continue
        root = engine.parse_xml(text.encode("utf-8"), name)
        for decision in (e for e in root.iter() if isinstance(e.tag, str) and e.tag.endswith("}decision")):
            table = next((e for e in decision if isinstance(e.tag, str) and e.tag.endswith("}decisionTable")), None)
            if table is None or decision.get("id") not in called:
                continue
            children = [e for e in table if isinstance(e.tag, str)]
            facts = []
            for entry in (e for e in children if e.tag.endswith("}input")):
                found = _FACT.search("".join(entry.itertext()))
                if found:
                    facts.append((found.group(1), entry.get("label") or found.group(1)))
            outputs = [e.get("name", "") for e in children if e.tag.endswith("}output")]
            rules, rows = [], []
            for row in (e for e in children if e.tag.endswith("}rule")):
                values = ["".join(e.itertext()).strip().strip('"') for e in row
                          if isinstance(e.tag, str) and e.tag.endswith("}outputEntry")]
                named = dict(zip((o.rsplit(".", 1)[-1] for o in outputs), values))
                rows.append(MappingProxyType(named))
                where = f"{name}: {decision.get('id')}: rule {row.get('id')}"
                message = named.get("message")
                if not message:
                    found_problems.append(f"{where}: has no message to tell people the rule")
                    continue
                conditions = " ".join("".join(e.itertext()) for e in row
                                      if isinstance(e.tag, str) and e.tag.endswith("}inputEntry"))
                stated = set(_NUMBER.findall(forms.normalize_digits(message)))
                for number in _NUMBER.findall(conditions):  # 0 is "any at all", said in words
                    if number.lstrip("-") not in stated and float(number) != 0:
                        found_problems.append(f"{where}: its message does not state {number.lstrip('-')}, which its "
                                              f"condition compares with: «{message}»")
                rules.append((named.get("rule", row.get("id", "")), message))
            tables[decision.get("id")] = RuleTable(
                decision.get("id"), decision.get("name") or decision.get("id"), tuple(facts), tuple(rules),
                variable=outputs[0].split(".")[0] if outputs else "", collects=table.get("hitPolicy") == "COLLECT",
                rows=tuple(rows))
    return tuple(tables[d] for d in called if d in tables), found_problems


@dataclass(frozen=True)
class Procedure:
    key: str
    title: str
    #: the words of the button that starts it
    start_label: str
    #: lanes whose people may start it: "applicant" (the center's holder, or anyone when it needs no
    #: center) or an office lane (the center's county office); roles per lane are in workflows/data/roles.json
    starters: tuple[str, ...]
    needs_center: bool
    #: a manager in office: any (``current_manager``), or an appointed one, not an interim (``appointed``)
    needs_manager: bool
    needs_appointed_manager: bool
    #: the license status the center's license must have today for the procedure to start: "active",
    #: "suspended", or None (any status but an ended license: revoked or closed)
    needs_license: str | None
    #: True when it may be started for an open case of the same center that waits for a successor
    names_successor: bool
    #: True when it may also be started for an open case whose proposed manager must pass training before
    #: the appointment is confirmed (``manager_training.dmn`` said "before"): it trains that person
    trains_proposed: bool
    #: how the manager's term ends when this procedure ends it
    term_end_reason: str | None
    statuses: Mapping[str, Status]
    tasks: Mapping[str, TaskMeaning]
    messages: Mapping[str, MessageMeaning]
    ends: Mapping[str, EndMeaning]
    steps: tuple[Step, ...]
    #: the people's words for the actions its tasks sign that the product does not name itself (``web.action.*``)
    actions: Mapping[str, str] = dataclasses.field(default_factory=lambda: MappingProxyType({}))
    #: the forms of the version (None until read with it: ``of_version`` always gives them)
    forms: forms.FormSet | None = None
    #: the rule tables its diagram calls, in the order it calls them (read from the version's DMN files)
    rules: tuple["RuleTable", ...] = ()

    @property
    def ends_license(self) -> bool:
        """True when one of its ends revokes or closes the center's license (its start button is set apart)."""
        return any(end.effect in ("revoke_license", "close_center") for end in self.ends.values())

    def manager_allows(self, interim: bool | None) -> bool:
        """True when a center whose manager in office is an interim (True), appointed (False), or who has
        none (None) may start it."""
        manager = None if interim is None else "interim" if interim else "appointed"
        if self.needs_appointed_manager:
            return manager == "appointed"
        return manager is not None or not self.needs_manager

    def license_allows(self, license_status: str | None) -> bool:
        """True when a center whose license has this status today (``facts.license_status``) may start it."""
        if license_status in ("revoked", "closed"):
            return False
        return self.needs_license is None or license_status == self.needs_license

    def status_label(self, status: str) -> str:
        known = self.statuses.get(status)
        return known.label if known else status

    def action_for(self, task_name: str, cleaned: dict) -> str:
        """The action the completed task signs."""
        meaning = self.tasks[task_name]
        return meaning.action if meaning.action is not None else cleaned[meaning.action_field]

    def step_of(self, status: str) -> tuple[int, int, Step | None]:
        """(N, M, step) of a case in this status: step N of the procedure's M steps; a case in no step's
        status (a finished one) is at step M with no step."""
        for number, step in enumerate(self.steps, start=1):
            if status in step.statuses:
                return number, len(self.steps), step
        return len(self.steps), len(self.steps), None

    def waiting_sender(self, message_names: list[str]) -> str | None:
        """Who sends the first of these awaited messages this procedure gives a meaning (None: none)."""
        return next((self.messages[m].sent_by for m in message_names if m in self.messages), None)


# --- reading a manifest ---------------------------------------------------------------------------

def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def parse(process_key: str, manifest: Any) -> Procedure:
    """The procedure a manifest declares; ManifestError listing every problem of its own shape.
    (Whether it fits its diagram is ``problems``.)"""
    found: list[str] = []
    if not isinstance(manifest, dict):
        raise ManifestError(process_key, ["a manifest is a JSON object"])

    def obj(where: str, value: Any) -> dict:
        if not isinstance(value, dict):
            found.append(f"{where}: must be an object")
            return {}
        return {k: v for k, v in value.items() if not k.startswith("_")}

    def text(where: str, value: Any, required: bool = True) -> str | None:
        if value is None and not required:
            return None
        if not _text(value):
            found.append(f"{where}: must be a non-empty text")
            return None
        return value

    def flag(where: str, value: Any) -> bool:
        if value is None:
            return False
        if type(value) is not bool:
            found.append(f"{where}: must be true or false")
            return False
        return value

    def names(where: str, value: Any, allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            found.append(f"{where}: must be a list of names")
            return ()
        for v in value:
            if allowed is not None and v not in allowed:
                found.append(f"{where}: {v!r} is not one of {', '.join(allowed)}")
        return tuple(value)

    known = set(manifest) - {"title", "start", "term_end_reason", "statuses", "tasks", "messages", "ends", "steps",
                             "actions"}
    for key in sorted(k for k in known if not k.startswith("_")):
        found.append(f"{key}: not a manifest entry")
    title = text("title", manifest.get("title"))
    start = obj("start", manifest.get("start"))
    starters = names("start.by", start.get("by"), tuple(LANE_ROLES))
    if not starters and "start.by: must be a list of names" not in found:
        found.append("start.by: names no lane")
    needs = names("start.needs", start.get("needs", []), NEEDS)
    for need in ("current_manager", "appointed_manager", "license_in_force", "license_suspended"):
        if need in needs and "center" not in needs:
            found.append(f"start.needs: {need} needs a center")
    if "license_in_force" in needs and "license_suspended" in needs:
        found.append("start.needs: a license is either in force or suspended")
    start_label = text("start.label", start.get("label"))
    names_successor = flag("start.names_successor", start.get("names_successor"))
    trains_proposed = flag("start.for_proposed_manager", start.get("for_proposed_manager"))
    for key in sorted(set(start) - {"by", "needs", "label", "names_successor", "for_proposed_manager"}):
        found.append(f"start.{key}: not a manifest entry")
    term_end_reason = text("term_end_reason", manifest.get("term_end_reason"), required=False)

    statuses: dict[str, Status] = {}
    for code, value in obj("statuses", manifest.get("statuses")).items():
        if not _CODE.fullmatch(code):
            found.append(f"statuses.{code}: a status is a lowercase letter, then up to 31 letters, digits or _")
        entry = obj(f"statuses.{code}", value)
        label = text(f"statuses.{code}.label", entry.get("label"))
        hint = text(f"statuses.{code}.next", entry.get("next"), required=False)
        for key in sorted(set(entry) - {"label", "next"}):
            found.append(f"statuses.{code}.{key}: not a manifest entry")
        statuses[code] = Status(label or code, hint)
    if DRAFT not in statuses:
        found.append(f"statuses: must give {DRAFT!r} (every case until its first signed record) a label")

    def status(where: str, value: Any) -> str:
        if not isinstance(value, str) or value not in statuses:
            found.append(f"{where}: {value!r} is not one of the manifest's statuses")
        return value if isinstance(value, str) else ""

    tasks: dict[str, TaskMeaning] = {}
    for name, value in obj("tasks", manifest.get("tasks")).items():
        entry = obj(f"tasks.{name}", value)
        action, field = entry.get("action"), entry.get("action_field")
        if (action is None) == (field is None):
            found.append(f"tasks.{name}: give either an action or the action_field that holds it")
        elif action is not None:
            if not (isinstance(action, str) and _CODE.fullmatch(action)):
                found.append(f"tasks.{name}.action: {action!r} is not an action (a lowercase letter, then letters, "
                             "digits or _)")
        else:
            text(f"tasks.{name}.action_field", field)
        for key in sorted(set(entry) - {"status", "action", "action_field", "decides_inquiries", "holder",
                                        "once_per_center", "confirms_manager"}):
            found.append(f"tasks.{name}.{key}: not a manifest entry")
        tasks[name] = TaskMeaning(status(f"tasks.{name}.status", entry.get("status")), action, field,
                                  flag(f"tasks.{name}.decides_inquiries", entry.get("decides_inquiries")),
                                  text(f"tasks.{name}.holder", entry.get("holder"), required=False),
                                  names(f"tasks.{name}.once_per_center", entry.get("once_per_center", [])),
                                  flag(f"tasks.{name}.confirms_manager", entry.get("confirms_manager")))

    messages: dict[str, MessageMeaning] = {}
    for name, value in obj("messages", manifest.get("messages", {})).items():
        entry = obj(f"messages.{name}", value)
        sent_by = entry.get("sent_by")
        if sent_by not in MESSAGE_SENDERS:
            found.append(f"messages.{name}.sent_by: {sent_by!r} is not one of {', '.join(MESSAGE_SENDERS)}")
        for key in sorted(set(entry) - {"status", "sent_by"}):
            found.append(f"messages.{name}.{key}: not a manifest entry")
        messages[name] = MessageMeaning(status(f"messages.{name}.status", entry.get("status")), sent_by)

    ends: dict[str, EndMeaning] = {}
    for name, value in obj("ends", manifest.get("ends")).items():
        entry = obj(f"ends.{name}", value)
        effect = entry.get("effect")
        if effect is not None and effect not in OUTCOME_ACTIONS:
            found.append(f"ends.{name}.effect: {effect!r} is not one of {', '.join(OUTCOME_ACTIONS)}")
        if effect in OUTCOME_ACTIONS and effect != "issue_license" and "center" not in needs:
            found.append(f"ends.{name}.effect: {effect} needs an existing center (start.needs)")
        for key in sorted(set(entry) - {"status", "effect", "certificate"}):
            found.append(f"ends.{name}.{key}: not a manifest entry")
        ends[name] = EndMeaning(status(f"ends.{name}.status", entry.get("status")), effect,
                                text(f"ends.{name}.certificate", entry.get("certificate"), required=False))
    if any(end.effect in ("appoint_manager", "appoint_interim") for end in ends.values()) and not term_end_reason:
        found.append("term_end_reason: a procedure that appoints a manager says how the previous term ends")

    actions: dict[str, str] = {}
    for code, value in obj("actions", manifest.get("actions", {})).items():
        if not _CODE.fullmatch(code):
            found.append(f"actions.{code}: an action is a lowercase letter, then up to 31 letters, digits or _")
        actions[code] = text(f"actions.{code}", value) or code

    steps: list[Step] = []
    raw_steps = manifest.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        found.append("steps: must be a list of the steps an applicant sees")
        raw_steps = []
    seen: set[str] = set()
    for number, value in enumerate(raw_steps, start=1):
        entry = obj(f"steps[{number}]", value)
        name = text(f"steps[{number}].name", entry.get("name")) or str(number)
        if name in seen:
            found.append(f"steps[{number}].name: {name!r} is used twice")
        seen.add(name)
        step_statuses = names(f"steps[{number}].statuses", entry.get("statuses"))
        for code in step_statuses:
            status(f"steps[{number}].statuses", code)
        for key in sorted(set(entry) - {"name", "label", "statuses"}):
            found.append(f"steps[{number}].{key}: not a manifest entry")
        steps.append(Step(name, text(f"steps[{number}].label", entry.get("label")) or name, step_statuses))
    if found:
        raise ManifestError(process_key, found)
    return Procedure(
        key=process_key, title=title, start_label=start_label, starters=starters, needs_center="center" in needs,
        needs_manager="current_manager" in needs or "appointed_manager" in needs,
        needs_appointed_manager="appointed_manager" in needs,
        needs_license="active" if "license_in_force" in needs else "suspended" if "license_suspended" in needs else None,
        names_successor=names_successor, trains_proposed=trains_proposed, term_end_reason=term_end_reason,
        statuses=MappingProxyType(statuses), tasks=MappingProxyType(tasks), messages=MappingProxyType(messages),
        ends=MappingProxyType(ends), steps=tuple(steps), actions=MappingProxyType(actions))


def problems(spec: engine.ProcessSpec) -> list[str]:
    """Where a version does not fit together (empty: it does): every user task, every message and every
    end event has a meaning, the manifest names nothing the diagram lacks, the form declarations build,
    every task's form is declared (with the field its action is read from), the forms look up only facts
    the product knows, and the answer form of the inquiries is declared."""
    if spec.manifest is None:
        return [f"{spec.process_key}{engine.MANIFEST_SUFFIX}: missing (every procedure has a manifest)"]
    try:
        procedure = parse(spec.process_key, spec.manifest)
    except ManifestError as error:
        return [f"{spec.process_key}{engine.MANIFEST_SUFFIX}: {problem}" for problem in error.problems]
    found = []
    for kind, declared, drawn in (("tasks", procedure.tasks, spec.user_tasks), ("messages", procedure.messages, spec.messages),
                                  ("ends", procedure.ends, spec.end_events)):
        for name in sorted(set(drawn) - set(declared)):
            found.append(f"{kind}.{name}: the diagram has it, the manifest gives it no meaning")
        for name in sorted(set(declared) - set(drawn)):
            found.append(f"{kind}.{name}: the manifest names it, the diagram has no such {kind[:-1]}")
    manifest_problems = [f"{spec.process_key}{engine.MANIFEST_SUFFIX}: {problem}" for problem in found]
    try:
        declared_forms = form_set(dict(spec.form_declarations))
    except forms.DeclarationError as error:
        return manifest_problems + [f"{engine.FORMS_FOLDER}/{problem}" for problem in error.problems]
    if declared_forms is None:
        return manifest_problems + [f"{engine.FORMS_FOLDER}/: no form is declared"]
    for name, meaning in procedure.tasks.items():
        if meaning.action is not None and not product_names_action(meaning.action) and meaning.action not in procedure.actions:
            manifest_problems.append(f"{spec.process_key}{engine.MANIFEST_SUFFIX}: tasks.{name}.action: "
                                     f"{meaning.action!r} has no words: give them in \"actions\"")
    for name, task in spec.user_tasks.items():
        if task.form_key not in declared_forms.forms:
            manifest_problems.append(f"{spec.process_key}.bpmn: task {name}: its form {task.form_key!r} is not declared "
                                     f"({engine.FORMS_FOLDER}/{task.form_key}{forms.FORM_SUFFIX})")
        elif name in procedure.tasks and procedure.tasks[name].action_field is not None:
            field = procedure.tasks[name].action_field
            if field not in declared_forms.get(task.form_key).labels:
                manifest_problems.append(f"{spec.process_key}{engine.MANIFEST_SUFFIX}: tasks.{name}.action_field: "
                                         f"{field!r} is not a field of the form {task.form_key!r}")
    for key, form in declared_forms.forms.items():
        for lookup in sorted(form.lookups() - set(LOOKUPS)):
            manifest_problems.append(f"{engine.FORMS_FOLDER}/{key}{forms.FORM_SUFFIX}: variables: the product cannot "
                                     f"look up {lookup!r} (it can: {', '.join(LOOKUPS)})")
    answer_form = spec.tables["inquiries"].get("answer_form") if "inquiries" in spec.tables else None
    if answer_form is not None and answer_form not in declared_forms.forms:
        manifest_problems.append(f"inquiries.json: answer_form: {answer_form!r} is not declared")
    return manifest_problems


def product_names_action(action: str) -> bool:
    """True when the product's catalogue has words for the action (``web.action.<action>``)."""
    return f"web.action.{action}" in forms.FA


#: form sets by the hash of their declarations (the versions of every procedure share them)
_form_sets: dict[str, forms.FormSet] = {}


def form_set(declarations: Mapping[str, Any]) -> forms.FormSet | None:
    """The forms built from parsed declaration files (None: there are none), built once per set of
    declarations; raises `forms.DeclarationError` listing every problem."""
    if not declarations:
        return None
    digest = hashlib.sha256(json.dumps(declarations, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()
    built = _form_sets.get(digest)
    if built is None:
        built = _form_sets.setdefault(digest, forms.FormSet.build(declarations))
    return built


# --- the manifest of a version ---------------------------------------------------------------------

#: procedures by version, and the versions stored without a manifest (parsed once per process)
_by_version: dict[str, Procedure] = {}
_without_manifest: set[str] = set()


def spec_of(definition: ProcessDefinition) -> engine.ProcessSpec:
    """The parsed spec of a stored version (parsed once per process). A version is named by the digest of
    its sources, so sources that no longer digest to it were changed in the database after it was
    deployed: ProcessFailed, and nothing runs on them."""
    spec = engine.cached_spec(definition.process_key, definition.version)
    if spec is None:
        sources = {name: text.encode("utf-8") for name, text in json.loads(definition.sources).items()}
        digest = engine.source_version(sources)
        if digest != definition.version:
            raise ProcessFailed(f"the stored sources of version {definition.version} digest to {digest}: "
                                "they were changed after it was deployed")
        spec = engine.spec_from_sources(definition.process_key, sources)
    return spec


def spec_of_case(session: Session, case: Case) -> engine.ProcessSpec:
    """The parsed spec of the version a case runs on: its stored row is read only the first time in this
    process."""
    spec = engine.cached_spec(case.process_key, case.spec_version)
    return spec if spec is not None else spec_of(session.get(ProcessDefinition, case.spec_version))


def _stored(session: Session, version: str) -> Procedure | None:
    """The procedure of a stored version's own manifest (None: it has none), parsed once."""
    if version in _without_manifest:
        return None
    procedure = _by_version.get(version)
    if procedure is None:
        definition = session.get(ProcessDefinition, version)
        name = f"{definition.process_key}{engine.MANIFEST_SUFFIX}"
        sources = json.loads(definition.sources)
        text = sources.get(name)
        if text is None:
            _without_manifest.add(version)
            return None
        prefix = f"{engine.FORMS_FOLDER}/"
        declared = form_set({n[len(prefix):]: engine.parse_table(body.encode("utf-8"), n)
                             for n, body in sources.items() if n.startswith(prefix)})
        procedure = parse(definition.process_key, engine.parse_table(text.encode("utf-8"), name))
        procedure = _by_version.setdefault(version, dataclasses.replace(
            procedure, forms=declared, rules=rule_tables(definition.process_key, sources)))
    return procedure


def of_version(session: Session, version: str) -> Procedure:
    """The procedure of a stored version: its own manifest, or for a version stored before manifests
    existed, the newest manifest of the same process."""
    procedure = _stored(session, version)
    if procedure is None:
        process_key = session.get(ProcessDefinition, version).process_key
        procedure = catalogue(session).current.get(process_key)
        if procedure is None:
            raise LookupError(f"no manifest of {process_key!r} is deployed")
    if procedure.forms is None:  # stored before forms were data: the newest forms
        procedure = dataclasses.replace(procedure, forms=catalogue(session).forms)
    return procedure


# --- every procedure -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Catalogue:
    """The deployed procedures: the newest version of each (``current``, in key order), and every
    version's words (a status only an older version has keeps its label)."""

    current: Mapping[str, Procedure]
    #: every version's procedure, newest first
    every: tuple[Procedure, ...]
    #: the people's name of each user task of the current versions (the BPMN task's name)
    task_titles: Mapping[str, str]

    def title(self, process_key: str) -> str:
        found = next((p for p in self.every if p.key == process_key), None)
        return found.title if found else process_key

    def status_label(self, status: str) -> str:
        """The newest label of a status (``every`` is newest first)."""
        found = next((p for p in self.every if status in p.statuses), None)
        return found.statuses[status].label if found else status

    def task_names(self) -> tuple[str, ...]:
        """The user tasks of the current procedures, as the inbox's step filter offers them."""
        return tuple(dict.fromkeys(name for procedure in self.current.values() for name in procedure.tasks))

    def task_title(self, name: str) -> str:
        return self.task_titles.get(name, name)

    def action_label(self, action: str) -> str:
        """The people's words for an action: the product's own, else the newest manifest's that names it."""
        if product_names_action(action):
            return forms.t(f"web.action.{action}")
        found = next((p.actions[action] for p in self.every if action in p.actions), None)
        return found or action

    def startable(self, *, with_center: bool) -> list[Procedure]:
        return [p for p in self.current.values() if p.needs_center == with_center]

    @property
    def forms(self) -> forms.FormSet:
        """The forms of the newest deployed version that declares them (every version carries them all)."""
        found = next((p.forms for p in self.every if p.forms is not None), None)
        if found is None:
            raise LookupError("no deployed version declares its forms")
        return found


def catalogue(session: Session) -> Catalogue:
    """The deployed procedures, read from the stored versions (manifests parsed once per version)."""
    rows = session.execute(select(ProcessDefinition.version, ProcessDefinition.process_key)
                           .order_by(ProcessDefinition.deployed_at.desc(), ProcessDefinition.version)).all()
    current: dict[str, Procedure] = {}
    versions: dict[str, str] = {}
    every: list[Procedure] = []
    for version, process_key in rows:
        procedure = _stored(session, version)
        if procedure is None:
            continue
        if process_key not in current:
            current[process_key], versions[process_key] = procedure, version
        every.append(procedure)
    # a task name several procedures share (a province review) is named as each names it
    titles: dict[str, list[str]] = {}
    for process_key in sorted(current):
        for name, title in task_titles(session, versions[process_key]).items():
            if title not in titles.setdefault(name, []):
                titles[name].append(title)
    return Catalogue(MappingProxyType(dict(sorted(current.items()))), tuple(every),
                     MappingProxyType({name: " / ".join(names) for name, names in titles.items()}))


_titles_by_version: dict[str, dict[str, str]] = {}


def task_titles(session: Session, version: str) -> dict[str, str]:
    """The people's name of each user task of a stored version (its BPMN names), read once per version."""
    titles = _titles_by_version.get(version)
    if titles is None:
        spec = spec_of(session.get(ProcessDefinition, version))
        titles = _titles_by_version.setdefault(version, {name: task.title for name, task in spec.user_tasks.items()})
    return titles


def newest_tables(session: Session) -> Mapping[str, Any]:
    """The data tables (terms.json, deadlines.json …) of the most recently deployed version, for what
    runs outside any case (the tick's reminders); empty when nothing is deployed."""
    version = session.scalar(select(ProcessDefinition.version).order_by(ProcessDefinition.deployed_at.desc(),
                                                                        ProcessDefinition.version).limit(1))
    if version is None:
        return {}
    tables = _tables_by_version.get(version)
    if tables is None:
        tables = _tables_by_version.setdefault(version, spec_of(session.get(ProcessDefinition, version)).tables)
    return tables


#: the data tables of each stored version, read once per process
_tables_by_version: dict[str, Mapping[str, Any]] = {}


def package_keys(bpmn_dir: Path) -> tuple[str, ...]:
    """The procedures a bpmn folder holds: one per manifest, in key order."""
    return tuple(sorted(path.name[:-len(engine.MANIFEST_SUFFIX)]
                        for path in Path(bpmn_dir).glob(f"*{engine.MANIFEST_SUFFIX}")))
