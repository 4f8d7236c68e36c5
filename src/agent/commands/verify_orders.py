"""``verify-orders FILE``: run an order-verification vector file through the agent's verifier."""

from __future__ import annotations

import argparse

from agent.commands.common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, add_global, error


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "verify-orders", help="verify signed orders from a vector file (orders.md §4)",
        description="Read a file shaped like shared/vectors/orders.json (cases of order steps with "
        "a context: appliance id, site id, now, trusted keys), verify every step in sequence with "
        "a fresh nonce store per case, and print each verdict and reason. Exit 0 iff every "
        "verdict (and expected completion, when given) equals the expected one; 1 otherwise; 2 "
        "if the file is unusable.")
    add_global(p)
    p.add_argument("file", metavar="FILE", help="vector file (JSON)")
    p.add_argument("--json", action="store_true", help="print one JSON object per step")
    p.add_argument("-q", "--quiet", action="store_true", help="print failing steps only")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from agent.orders.vectors import VectorFileError, run_vectors

    try:
        doc = json.loads(Path(args.file).read_bytes())
    except OSError as exc:
        error(f"{args.file}: {exc.strerror or exc}")
        return EXIT_USAGE
    except ValueError as exc:
        error(f"{args.file}: not JSON: {exc}")
        return EXIT_USAGE
    try:
        results = run_vectors(doc)
    except VectorFileError as exc:
        error(f"{args.file}: {exc}")
        return EXIT_USAGE
    failed = 0
    for r in results:
        failed += not r.ok
        if args.quiet and r.ok:
            continue
        v = r.verdict
        if args.json:
            print(json.dumps({"case": r.case, "step": r.step, "verdict": v.text,
                              "completion": v.completion, "reason": v.reason,
                              "detail": v.detail, "expected_verdict": r.expected_verdict,
                              "expected_completion": r.expected_completion, "ok": r.ok}))
        else:
            mark = "PASS" if r.ok else "FAIL"
            why = f" ({v.detail})" if v.detail else ""
            exp = "" if r.ok else f"  expected {r.expected_verdict}" + (
                f" / {r.expected_completion}" if r.expected_completion else "")
            print(f"{mark} {r.case}#{r.step}: {v.text} -> {v.completion}{why}{exp}")
    if not args.json:
        print(f"{len(results) - failed}/{len(results)} steps as expected "
              f"({len({r.case for r in results})} cases)")
    return EXIT_OK if failed == 0 else EXIT_FAILURE
