"""Between HTML forms and nested JSON: dotted input names in, nested dicts out, and back."""
from __future__ import annotations

from typing import Any

from werkzeug.datastructures import MultiDict

__all__ = ["unflatten", "flatten", "META_FIELDS"]

#: inputs of the page form that are not form data
META_FIELDS = {"csrf_token", "_action", "pin", "lock_version", "keep_unlocked"}
#: the most list items an HTML form may post (more is an error, not a silent cut)
MAX_INDEX = 50


def unflatten(form: MultiDict) -> dict[str, Any]:
    """Nest ``a.b`` and ``list.0.c`` names; drop empty values and empty list rows.

    A checkbox is posted as a hidden ``false`` followed by the box's ``true``: the last value wins.
    """
    root: dict[str, Any] = {}
    for name in form.keys():
        if name in META_FIELDS or name.startswith("file."):
            continue
        value = form.getlist(name)[-1]
        if value.strip() == "":
            continue
        parts = name.split(".")
        if any(not part for part in parts) or len(parts) > 4:
            continue
        node = root
        for part, following in zip(parts, parts[1:]):
            key: Any = int(part) if part.isdigit() and int(part) < MAX_INDEX else part
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                break
        else:
            node[int(parts[-1]) if parts[-1].isdigit() else parts[-1]] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    """Turn dicts keyed only by ints into lists in index order."""
    if not isinstance(node, dict):
        return node
    converted = {key: _lists(value) for key, value in node.items()}
    if converted and all(isinstance(key, int) for key in converted):
        return [converted[key] for key in sorted(converted)]
    return converted


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """The reverse of ``unflatten``: dotted names to values, for prefilling inputs."""
    flat: dict[str, Any] = {}
    if isinstance(data, dict):
        items = data.items()
    elif isinstance(data, list):
        items = enumerate(data)
    else:
        return {prefix: data}
    for key, value in items:
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat
