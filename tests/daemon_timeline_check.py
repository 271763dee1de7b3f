#!/usr/bin/env python3
"""Checks a timeline written by xschedd --timeline in daemon_timeline_test:
the trace-event format (timeline_check.py's rules), one named track per queue
of each program, the low program's queue held by the policy with arrows from
the high program's queue, and the high one never held.

    daemon_timeline_check.py FILE HIGH_PID LOW_PID
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timeline_check import check_format, fail, flow_arrows  # noqa: E402


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    high_pid, low_pid = sys.argv[2], sys.argv[3]
    with open(sys.argv[1]) as f:
        events = check_format(json.load(f))
    tracks = {e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    high = [t for t, n in tracks.items() if n.startswith(f"pid {high_pid} (") and ", queue " in n and ", host" in n]
    low = [t for t, n in tracks.items() if n.startswith(f"pid {low_pid} (") and ", queue " in n and ", host" in n]
    if len(high) != 1 or len(low) != 1:
        fail(f"expected one named track for each program's queue, got {tracks}")
    high, low = high[0], low[0]
    held = [e for e in events if e["ph"] == "X" and e["name"] == "held"]
    low_held = [e for e in held if e["tid"] == low and e["args"]["reason"] == "policy"]
    if len(low_held) < 3:
        fail(f"expected the low program's queue held by the policy at least 3 times, got {len(low_held)}")
    if any(e["tid"] == high for e in held):
        fail("the high program's queue was held")
    linked = flow_arrows(events, high, low)
    if len(linked) < 3:
        fail(f"expected arrows from the high queue's changes to the low queue's holds, got {len(linked)}")
    print(f"daemon_timeline_check: ok ({len(events)} events, {len(low_held)} holds, {len(linked)} arrows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
