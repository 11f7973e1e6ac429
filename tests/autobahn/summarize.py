#!/usr/bin/env python3
"""Summarize an Autobahn|Testsuite fuzzingclient report (index.json).

Usage: summarize.py INDEX_JSON [--agent NAME] [--expected N]

Prints, per case group (the first number of the case id) and overall, the
count of cases per `behavior` and per `behaviorClose`, then lists failed cases.

A case counts as failed when its behavior is FAILED (or any value the
Autobahn HTML report also shows as "Fail", e.g. NO_CLOSE) or its
behaviorClose is FAILED.  UNCLEAN / WRONG CODE / FAILED BY CLIENT close
behaviors are listed as warnings but do not fail the run.

Exit status: 0 when at least one case ran and none failed (and, with
--expected, every expected case is in the report); 1 otherwise; 2 on usage
or input errors.  The last line is "autobahn: N passed, N failed".
"""

import argparse
import json
import sys
from collections import Counter, defaultdict

BEHAVIOR_ORDER = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
CLOSE_ORDER = ["OK", "INFORMATIONAL", "WRONG CODE", "FAILED BY CLIENT", "UNCLEAN", "FAILED"]
PASSING_BEHAVIORS = {"OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED"}
# behaviorClose values that are not failures but worth a look
WARN_CLOSE = {"WRONG CODE", "UNCLEAN", "FAILED BY CLIENT"}


def case_key(case_id):
    parts = []
    for p in case_id.split("."):
        try:
            parts.append((0, int(p), ""))
        except ValueError:
            parts.append((1, 0, p))
    return parts


def group_of(case_id):
    return case_id.split(".", 1)[0]


def columns(order, counters):
    seen = set()
    for c in counters:
        seen.update(c)
    return [b for b in order if b in seen] + sorted(seen - set(order))


def print_table(title, groups, per_group, total, cols, extra_cols=()):
    headers = ["group"] + cols + [name for name, _ in extra_cols] + ["total"]
    rows = []
    for g in groups:
        c = per_group[g]
        rows.append([g] + [str(c.get(b, 0)) for b in cols]
                    + [str(fn(g)) for _, fn in extra_cols] + [str(sum(c.values()))])
    all_row = ["all"] + [str(total.get(b, 0)) for b in cols] \
        + [str(fn(None)) for _, fn in extra_cols] + [str(sum(total.values()))]
    widths = [max(len(h), *(len(r[i]) for r in rows + [all_row])) for i, h in enumerate(headers)]

    def fmt(r):
        return "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths)))

    print(title)
    print(fmt(headers))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(fmt(r))
    print("  ".join("-" * w for w in widths))
    print(fmt(all_row))
    print()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("index_json")
    ap.add_argument("--agent", help="agent to summarize (default: every agent in the report)")
    ap.add_argument("--expected", type=int, default=None,
                    help="number of cases wstest said it would run; fewer in the report is a failure")
    args = ap.parse_args(argv)

    try:
        with open(args.index_json, encoding="utf-8") as f:
            index = json.load(f)
    except (OSError, ValueError) as e:
        print(f"summarize: cannot read {args.index_json}: {e}", file=sys.stderr)
        print("autobahn: 0 passed, 0 failed")
        return 2

    if args.agent is not None:
        agents = {args.agent: index.get(args.agent, {})}
        if args.agent not in index:
            print(f"summarize: agent {args.agent!r} not in report (agents: {sorted(index)})",
                  file=sys.stderr)
    else:
        agents = index

    total_failed = 0
    total_ran = 0
    ok = True
    for agent in sorted(agents):
        cases = agents[agent] or {}
        by_group_beh = defaultdict(Counter)
        by_group_close = defaultdict(Counter)
        failed_per_group = Counter()
        failed, warnings = [], []
        durations = []
        for cid in sorted(cases, key=case_key):
            c = cases[cid]
            beh = c.get("behavior", "?")
            close = c.get("behaviorClose", "?")
            g = group_of(cid)
            by_group_beh[g][beh] += 1
            by_group_close[g][close] += 1
            durations.append((c.get("duration") or 0, cid))
            if beh not in PASSING_BEHAVIORS or close == "FAILED":
                failed.append((cid, beh, close, c.get("remoteCloseCode")))
                failed_per_group[g] += 1
            elif close in WARN_CLOSE:
                warnings.append((cid, beh, close, c.get("remoteCloseCode")))

        groups = sorted(by_group_beh, key=case_key)
        tot_beh = sum(by_group_beh.values(), Counter())
        tot_close = sum(by_group_close.values(), Counter())
        n = len(cases)
        total_ran += n
        total_failed += len(failed)

        print(f"=== Autobahn fuzzingclient results for agent {agent!r}: {n} cases ===")
        print()
        if n:
            failed_col = ("failed*", lambda g: failed_per_group[g] if g is not None else len(failed))
            print_table("behavior per case group (failed* = behavior or behaviorClose FAILED):",
                        groups, by_group_beh, tot_beh,
                        columns(BEHAVIOR_ORDER, by_group_beh.values()), [failed_col])
            print_table("behaviorClose per case group:", groups, by_group_close, tot_close,
                        columns(CLOSE_ORDER, by_group_close.values()))
            total_ms = sum(d for d, _ in durations)
            slow = ", ".join(f"{cid} {d} ms" for d, cid in sorted(durations, reverse=True)[:5])
            print(f"sum of case durations: {total_ms / 1000:.1f} s; slowest: {slow}")
            print()

        if failed:
            print(f"FAILED cases ({len(failed)}):")
            for cid, beh, close, code in failed:
                print(f"  {cid:<10} behavior={beh:<14} behaviorClose={close:<16} remoteCloseCode={code}")
            print()
        if warnings:
            print(f"close-behavior warnings, not counted as failures ({len(warnings)}):")
            for cid, beh, close, code in warnings:
                print(f"  {cid:<10} behavior={beh:<14} behaviorClose={close:<16} remoteCloseCode={code}")
            print()
        if n == 0:
            print(f"ERROR: no cases ran for agent {agent!r} (server not reachable?)")
            ok = False

    if total_ran == 0 and not agents:
        print("ERROR: report contains no agents / no cases")
    if args.expected is not None and total_ran < args.expected:
        print(f"ERROR: only {total_ran} of {args.expected} expected cases are in the report "
              f"(connection to the server failed part-way?)")
        ok = False
    if total_failed:
        ok = False
    if total_ran == 0:
        ok = False

    missing = max(0, (args.expected or 0) - total_ran)
    print(f"RESULT: {'PASS' if ok else 'FAIL'} ({total_ran} cases, {total_failed} failed"
          + (f", {missing} missing" if missing else "") + ")")
    print(f"autobahn: {total_ran - total_failed} passed, {total_failed + missing} failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
