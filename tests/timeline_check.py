#!/usr/bin/env python3
"""Checks a timeline written by timeline_prog (XSCHED_TIMELINE): the trace-event
format that Perfetto and chrome://tracing read, and what the scenario must show.

    timeline_check.py FILE
"""
import json
import sys

PHASES = {"M", "X", "i", "s", "f"}


def fail(msg: str) -> None:
    print(f"timeline_check: {msg}", file=sys.stderr)
    sys.exit(1)


def check_format(doc: dict) -> list:
    if not isinstance(doc, dict) or not isinstance(doc.get("traceEvents"), list):
        fail("no traceEvents array")
    events = doc["traceEvents"]
    for e in events:
        if e.get("ph") not in PHASES:
            fail(f"unknown phase in {e}")
        if not isinstance(e.get("pid"), int) or not isinstance(e.get("tid"), int):
            fail(f"pid/tid not integers in {e}")
        if e["ph"] != "M" and not isinstance(e.get("ts"), (int, float)):
            fail(f"no timestamp in {e}")
        if e["ph"] == "X" and not (isinstance(e.get("dur"), (int, float)) and e["dur"] >= 0):
            fail(f"complete event without a duration >= 0: {e}")
        if e["ph"] in ("s", "f") and not isinstance(e.get("id"), int):
            fail(f"flow event without an id: {e}")
        if not isinstance(e.get("name"), str):
            fail(f"no name in {e}")
    return events


def flow_arrows(events: list, src: int, dst: int) -> list:
    """The ids of the flow arrows that start on track src and end on track dst."""
    starts = {e["id"]: e for e in events if e["ph"] == "s"}
    ends = {e["id"]: e for e in events if e["ph"] == "f"}
    return [i for i in ends if i in starts and starts[i]["tid"] == src and ends[i]["tid"] == dst]


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1]) as f:
        events = check_format(json.load(f))
    tracks = {e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    if len(tracks) != 2 or not all(name.startswith("queue ") and ", host:" in name for name in tracks.values()):
        fail(f"expected two named queue tracks on a host device, got {tracks}")
    launches = {}
    for e in events:
        if e["ph"] == "i" and e["name"] == "launch":
            launches[e["tid"]] = launches.get(e["tid"], 0) + 1
    if sorted(launches.values()) != [6, 200]:
        fail(f"expected 200 and 6 launches on the two tracks, got {launches}")
    low = max(launches, key=launches.get)
    high = min(launches, key=launches.get)
    held = [e for e in events if e["ph"] == "X" and e["name"] == "held" and e["tid"] == low]
    by_policy = [e for e in held if e["args"]["reason"] == "policy"]
    by_user = [e for e in held if e["args"]["reason"].startswith("user")]
    if len(by_policy) < 3:
        fail(f"expected the low queue held by the policy at each of the 3 requests, got {len(by_policy)}")
    if len(by_user) != 1 or by_user[0]["dur"] < 4000:
        fail(f"expected one user hold of about 5 ms, got {by_user}")
    if any(e["tid"] != low for e in events if e["ph"] == "X" and e["name"] == "held"):
        fail("the urgent queue was held")
    linked = flow_arrows(events, high, low)
    if len(linked) < 3:
        fail(f"expected flow arrows from the urgent queue to the low queue's holds, got {len(linked)}")
    decisions = [e for e in events if e["ph"] == "X" and e["name"] == "decision" and e["tid"] == high]
    if len(decisions) < 3:
        fail("expected the urgent queue's decisions as slices on its track")
    print(f"timeline_check: ok ({len(events)} events, {len(by_policy)} holds by the policy, {len(linked)} arrows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
