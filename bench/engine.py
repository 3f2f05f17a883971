"""Engine timings and state sizes: `.venv/bin/python bench/engine.py [runs]`."""

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "engine")]

import engine  # noqa: E402
from engine import specs  # noqa: E402
from flow import BPMN_DIR, EveryDayCalendar, apply, decide, load_spec, reach_county_review, start, visit  # noqa: E402


def median_ms(action, runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main(runs: int) -> None:
    sources = engine.read_sources(BPMN_DIR, "center_founding")

    def parse() -> None:
        specs._cache.clear()
        engine.spec_from_sources("center_founding", sources)

    print(f"parse + spec (uncached)            {median_ms(parse, runs):7.3f} ms")
    print(f"spec_from_sources (cached)         "
          f"{median_ms(lambda: engine.spec_from_sources('center_founding', sources), runs):7.3f} ms")
    spec = load_spec()
    print(f"start to first user task           {median_ms(lambda: start(spec), runs):7.3f} ms")

    waiting_county = reach_county_review(spec).serialize()

    def step() -> None:
        instance = engine.Instance.load(spec, waiting_county)
        decide(instance, "county_review", "approve")
        instance.serialize()

    print(f"load + complete + serialize, 1 step {median_ms(step, runs):7.3f} ms")

    start_size = len(start(spec).serialize().encode())
    instance = reach_county_review(spec)
    decide(instance, "county_review", "approve")
    decide(instance, "province_review", "approve")
    end_size = len(instance.serialize().encode())
    print(f"state size at start                {start_size:7d} bytes")
    print(f"state size after approve-approve   {end_size:7d} bytes ({len(instance.completed_task_names())} "
          f"elements completed)")

    looped = reach_county_review(spec)
    for _ in range(10):
        decide(looped, "county_review", "return")
        apply(looped, "correct_application")
        looped.send_message("inquiries_complete", {"all_clear": True, "results": []})
        visit(looped)
    print(f"state size after 10 return loops   {len(looped.serialize().encode()):7d} bytes")


if __name__ == "__main__":
    with engine.working_calendar(EveryDayCalendar()):  # the engine alone: every day a working day
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
