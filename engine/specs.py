"""Process specs: read sources, hash them into versions, parse once per version.

A spec's sources are its BPMN file, its manifest (``<process>.procedure.json``: what the
procedure means to people and to the registry, read by ``workflows.procedures``), every DMN
file (rule tables are shared), every other JSON file (data tables such as deadlines.json,
shared too) of the bpmn folder, and the form declarations of its ``forms/`` folder (read by
``forms``; the engine only carries them). All of them make up the spec's version, so a changed
deadline, status label or form field is a new version like a changed diagram.
"""

import copy
import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent

from .errors import SpecError
from .events import event_definitions
from .limits import MAX_SOURCE_BYTES
from .parser import EngineParser

__all__ = [
    "CACHE_SIZE",
    "EndEventDef",
    "JsonTables",
    "FORMS_FOLDER",
    "MANIFEST_SUFFIX",
    "ProcessSpec",
    "UserTaskDef",
    "parse_table",
    "read_sources",
    "source_version",
    "spec_from_sources",
]

#: How many parsed specs stay cached (least recently used ones are dropped).
CACHE_SIZE = 32

#: A procedure's manifest is the file ``<process key>.procedure.json`` beside its BPMN file.
MANIFEST_SUFFIX = ".procedure.json"
#: The form declarations are the JSON files of the bpmn folder's ``forms`` folder, named ``forms/<file>``
#: among the sources.
FORMS_FOLDER = "forms"

_PROCESS_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,99}")
_TABLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,99}")
_VARIABLE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,99}")


@dataclass(frozen=True)
class UserTaskDef:
    """A user task as drawn in the process."""

    #: BPMN id of the task, e.g. "county_review".
    name: str
    #: The task's BPMN name attribute (Persian), shown to people.
    title: str
    #: Name attribute of the task's lane, e.g. "county".
    lane: str
    #: Key of the form that completes the task (spiffworkflow property formKey).
    form_key: str
    #: Variable that receives the submitted form (property dataKey); None merges it into task data.
    data_key: str | None
    #: Variables removed from the process data when the task completes (property resets, names
    #: separated by spaces or commas): results of an earlier pass that must not outlive a correction.
    resets: tuple[str, ...] = ()


@dataclass(frozen=True)
class EndEventDef:
    """An end event of the top-level process: one possible outcome."""

    #: BPMN id, e.g. "license_issued".
    name: str
    #: The event's BPMN name attribute (Persian).
    title: str


@dataclass(frozen=True, eq=False)
class ProcessSpec:
    """A parsed, checked process and the versions of the sources it came from."""

    #: BPMN id of the executable process, e.g. "center_founding".
    process_key: str
    #: Hex SHA-256 over the sorted (file name, content) pairs of all source files.
    version: str
    #: The same hash over the DMN files only: the version of the rule tables.
    rules_version: str
    #: The parsed top-level process.
    spec: BpmnProcessSpec
    #: The parsed processes it calls, by id.
    subprocess_specs: Mapping[str, BpmnProcessSpec]
    #: User tasks by BPMN id, in parse order.
    user_tasks: Mapping[str, UserTaskDef]
    #: End events of the top-level process by BPMN id.
    end_events: Mapping[str, EndEventDef]
    #: Parsed JSON data tables by file stem, e.g. tables["deadlines"]; every read returns a fresh copy.
    tables: Mapping[str, Any]
    #: Names of the messages the top-level process's events catch or throw.
    messages: frozenset[str] = frozenset()
    #: The parsed manifest (``<process key>.procedure.json``), None when the sources have none
    #: (a version stored before manifests existed); a fresh copy on every read.
    manifest_json: bytes | None = None
    #: The parsed form declarations by file name (``choices.json``, ``<key>.form.json`` …; a fresh copy on
    #: every read), empty for a version stored before forms were data.
    form_declarations: Mapping[str, Any] = field(default_factory=lambda: JsonTables({}))

    @property
    def manifest(self) -> Any:
        """The parsed manifest, a fresh copy (None when there is none)."""
        return None if self.manifest_json is None else json.loads(self.manifest_json)


class JsonTables(Mapping[str, Any]):
    """Read-only mapping of parsed JSON tables; each lookup returns a deep copy, so the cached spec stays intact."""

    def __init__(self, tables: Mapping[str, Any]) -> None:
        """Hold the parsed tables (not copied: the caller hands them over)."""
        self._tables = dict(tables)
        self._derived: dict[Callable[[Mapping[str, Any]], Any], Any] = {}

    def derived(self, read: Callable[[Mapping[str, Any]], Any]) -> Any:
        """What ``read`` makes of these tables, made once (the tables never change): a rubric, the
        training packages. The value is shared: it must not be changed."""
        if read not in self._derived:
            self._derived[read] = read(self)
        return self._derived[read]

    def __getitem__(self, name: str) -> Any:
        """Return a deep copy of one table."""
        return copy.deepcopy(self._tables[name])

    def __iter__(self) -> Iterator[str]:
        """Iterate over the table names."""
        return iter(self._tables)

    def __len__(self) -> int:
        """Return how many tables there are."""
        return len(self._tables)

    def __repr__(self) -> str:
        """Name the tables."""
        return f"JsonTables({sorted(self._tables)})"


def source_version(sources: Mapping[str, bytes]) -> str:
    """Return the hex SHA-256 over the sorted (file name, content) pairs."""
    digest = hashlib.sha256()
    for name in sorted(sources):
        encoded = name.encode("utf-8")
        # Length prefixes keep the encoding unambiguous between names and contents.
        digest.update(b"%d:%b%d:%b" % (len(encoded), encoded, len(sources[name]), sources[name]))
    return digest.hexdigest()


def read_sources(bpmn_dir: Path, process_key: str) -> dict[str, bytes]:
    """Read `{process_key}.bpmn`, its manifest `{process_key}.procedure.json` if there is one, every `*.dmn`
    and every other `*.json` (shared tables; other procedures' manifests left out) from a folder (not below it),
    and every `*.json` of its `forms` folder (named `forms/<file>`)."""
    if not _PROCESS_KEY.fullmatch(process_key):
        raise SpecError(f"invalid process key {process_key!r}")
    bpmn_dir = Path(bpmn_dir)
    path = bpmn_dir / f"{process_key}.bpmn"
    try:
        sources = {path.name: path.read_bytes()}
    except OSError as exc:
        raise SpecError(f"cannot read {path}: {exc.strerror}") from None
    manifest = bpmn_dir / f"{process_key}{MANIFEST_SUFFIX}"
    shared_files = [*bpmn_dir.glob("*.dmn"), *bpmn_dir.glob("*.json")]
    named = [(f.name, f) for f in sorted(shared_files) if not f.name.endswith(MANIFEST_SUFFIX) or f == manifest]
    named += [(f"{FORMS_FOLDER}/{f.name}", f) for f in sorted((bpmn_dir / FORMS_FOLDER).glob("*.json"))]
    for name, shared in named:
        try:
            sources[name] = shared.read_bytes()
        except OSError as exc:
            raise SpecError(f"cannot read {shared}: {exc.strerror}") from None
    return sources


def spec_from_sources(process_key: str, sources: Mapping[str, bytes]) -> ProcessSpec:
    """Return the spec of a process from its source files, parsed once per version and cached."""
    for name, body in sources.items():
        if len(body) > MAX_SOURCE_BYTES:
            raise SpecError(f"{name}: {len(body)} bytes; a source file may have at most {MAX_SOURCE_BYTES}")
    version = source_version(sources)
    key = (process_key, version)
    with _lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
            return cached
    spec = _build(process_key, version, sources)
    with _lock:
        spec = _cache.setdefault(key, spec)
        _cache.move_to_end(key)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return spec


def cached_spec(process_key: str, version: str) -> ProcessSpec | None:
    """The spec of a version already parsed in this process (None: not parsed yet, or evicted)."""
    with _lock:
        spec = _cache.get((process_key, version))
        if spec is not None:
            _cache.move_to_end((process_key, version))
        return spec


_cache: "OrderedDict[tuple[str, str], ProcessSpec]" = OrderedDict()
_lock = threading.Lock()


def _build(process_key: str, version: str, sources: Mapping[str, bytes]) -> ProcessSpec:
    parser = EngineParser()
    tables: dict[str, Any] = {}
    manifest_json = None
    form_declarations: dict[str, Any] = {}
    for name in sorted(sources):
        if name.startswith(f"{FORMS_FOLDER}/"):
            form_declarations[name[len(FORMS_FOLDER) + 1:]] = parse_table(sources[name], name)
        elif name.endswith(MANIFEST_SUFFIX):
            if name != f"{process_key}{MANIFEST_SUFFIX}":
                raise SpecError(f"{name}: the manifest of {process_key!r} must be named {process_key}{MANIFEST_SUFFIX}")
            manifest = parse_table(sources[name], name)
            if not isinstance(manifest, dict):
                raise SpecError(f"{name}: a manifest must be a JSON object")
            manifest_json = json.dumps(manifest, ensure_ascii=False).encode("utf-8")
        elif name.endswith(".bpmn"):
            parser.add_bpmn_bytes(sources[name], name)
        elif name.endswith(".dmn"):
            parser.add_dmn_bytes(sources[name], name)
        elif name.endswith(".json"):
            tables[_table_name(name)] = parse_table(sources[name], name)
        else:
            raise SpecError(f"{name}: a source must be a .bpmn, .dmn or .json file")
    spec, subprocess_specs = parser.process_specs(process_key)
    user_tasks: dict[str, UserTaskDef] = {}
    for each in (spec, *subprocess_specs.values()):
        for task_spec in each.task_specs.values():
            if task_spec.manual:
                if task_spec.bpmn_id in user_tasks:
                    raise SpecError(f"{each.file}: user task id {task_spec.bpmn_id!r} is used twice")
                user_tasks[task_spec.bpmn_id] = _user_task_def(task_spec, each.file)
    end_events = {
        task_spec.bpmn_id: EndEventDef(task_spec.bpmn_id, task_spec.bpmn_name or "")
        for task_spec in spec.task_specs.values() if isinstance(task_spec, EndEvent)
    }
    messages = frozenset(
        definition.name for task_spec in spec.task_specs.values() for definition in event_definitions(task_spec)
        if isinstance(definition, MessageEventDefinition))
    return ProcessSpec(
        process_key=process_key,
        version=version,
        rules_version=source_version({n: s for n, s in sources.items() if n.endswith(".dmn")}),
        spec=spec,
        subprocess_specs=MappingProxyType(subprocess_specs),
        user_tasks=MappingProxyType(user_tasks),
        end_events=MappingProxyType(end_events),
        tables=JsonTables(tables),
        messages=messages,
        manifest_json=manifest_json,
        form_declarations=JsonTables(form_declarations),
    )


def _table_name(filename: str) -> str:
    """The table's name: the file name without .json."""
    stem = filename[:-len(".json")]
    if not _TABLE_NAME.fullmatch(stem):
        raise SpecError(f"{filename}: a table's file name must be a letter then letters, digits or _")
    return stem


def parse_table(source: bytes, filename: str) -> Any:
    """Parse a data table or manifest as strict JSON: UTF-8, no duplicate keys, no NaN or Infinity."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        table: dict[str, Any] = {}
        for key, value in pairs:
            if key in table:
                raise ValueError(f"duplicate key {key!r}")
            table[key] = value
        return table

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        return json.loads(source.decode("utf-8"), object_pairs_hook=no_duplicates, parse_constant=no_constant)
    except UnicodeDecodeError as exc:
        raise SpecError(f"{filename}: not UTF-8: {exc.reason} at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise SpecError(f"{filename}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except (ValueError, RecursionError) as exc:
        raise SpecError(f"{filename}: not valid JSON: {exc}") from None


def _user_task_def(task_spec: Any, filename: str) -> UserTaskDef:
    properties = task_spec.extensions.get("properties", {})
    where = f"{filename}: user task {task_spec.bpmn_id!r}"
    if not task_spec.lane:
        raise SpecError(f"{where} is in no lane")
    if not properties.get("formKey"):
        raise SpecError(f"{where} has no formKey property")
    resets = tuple(name for name in re.split(r"[\s,]+", properties.get("resets", "")) if name)
    for name in resets:
        if not _VARIABLE.fullmatch(name):
            raise SpecError(f"{where} resets {name!r}, which is not a variable name")
    return UserTaskDef(
        name=task_spec.bpmn_id,
        title=task_spec.bpmn_name or "",
        lane=task_spec.lane,
        form_key=properties["formKey"],
        data_key=properties.get("dataKey") or None,
        resets=resets,
    )
