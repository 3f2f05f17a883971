"""A small summary of a pyinstrument profile: where the time went, by function, inclusive and self."""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable

#: frames of these files are the project's own code; the rest is libraries
PROJECT_DIRS = ("/workflows/", "/web/", "/signing/", "/engine/", "/forms/")


def profile(action: Callable[[], Any], interval: float = 0.001) -> tuple[Any, Any]:
    """Run the action under pyinstrument; (result, session). Returns (result, None) without pyinstrument."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        return action(), None
    profiler = Profiler(interval=interval)
    profiler.start()
    try:
        result = action()
    finally:
        profiler.stop()
    return result, profiler.last_session


def _label(frame: Any) -> str:
    path = frame.file_path or ""
    for marker in PROJECT_DIRS:
        if marker in path:
            return f"{marker.strip('/')}/{path.split(marker, 1)[1]}:{frame.function}"
    if "site-packages/" in path:
        return f"{path.split('site-packages/', 1)[1].split('/', 1)[0]}:{frame.function}"
    return f"{path.rsplit('/', 1)[-1] or '<built-in>'}:{frame.function}"


def summarize(session: Any, top: int = 15) -> dict[str, list[tuple[str, float, float]]]:
    """Top functions by inclusive time (each counted once per stack) and by self time, as
    (label, seconds, share of the total)."""
    if session is None:
        return {"inclusive": [], "self": []}
    root = session.root_frame()
    total = root.time or 1e-9
    inclusive: dict[str, float] = defaultdict(float)
    own: dict[str, float] = defaultdict(float)

    def synthetic(frame: Any) -> bool:  # pyinstrument's "[self]" / "[await]" pseudo-frames
        return (frame.function or "").startswith("[") or frame.file_path is None

    def walk(frame: Any, on_stack: frozenset[str]) -> None:
        label = _label(frame)
        if label not in on_stack:
            inclusive[label] += frame.time
        real = [child for child in frame.children if not synthetic(child)]
        own[label] += max(0.0, frame.time - sum(child.time for child in real))
        for child in real:
            walk(child, on_stack | {label})

    walk(root, frozenset())
    rank = lambda table: [(k, v, v / total) for k, v in sorted(table.items(), key=lambda kv: -kv[1])]  # noqa: E731
    project_inclusive = [row for row in rank(inclusive) if any(row[0].startswith(d.strip("/")) for d in PROJECT_DIRS)]
    return {"inclusive": project_inclusive[:top], "self": rank(own)[:top], "total": total}


def format_summary(summary: dict, title: str) -> str:
    if not summary.get("inclusive"):
        return f"{title}: (pyinstrument not installed)"
    lines = [f"{title} — profile of {summary['total']:.2f} s (pyinstrument)",
             "  inclusive time, project functions:"]
    lines += [f"    {share * 100:5.1f}%  {seconds:7.2f} s  {label}" for label, seconds, share in summary["inclusive"]]
    lines.append("  self time (where the CPU actually was):")
    lines += [f"    {share * 100:5.1f}%  {seconds:7.2f} s  {label}" for label, seconds, share in summary["self"]]
    return "\n".join(lines)
