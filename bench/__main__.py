"""`make bench`: run every benchmark and print its figures (ratios against limits
measured in the same run, because the machines are shared and noisy).

    python -m bench                   # rsa, delivery, inbox and timeline
    python -m bench delivery inbox    # some of them (delivery measures rsa too)

Nothing is asserted: each figure is printed with its target and whether it was met. The
exit status is 1 only when a run itself went wrong (a crash, lost or refused requests).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from collections.abc import Sequence

from bench import delivery, inbox, rsa, timeline
from bench.common import Figure, cluster, emit, machine_header, run_loop

PARTS = ("rsa", "delivery", "inbox", "timeline")


async def _run(parts: Sequence[str]) -> int:
    # SIGTERM stops the run like Ctrl-C does: through the finally blocks that stop the
    # children and the database.
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    started = time.perf_counter()
    print("Shoal benchmarks: targets are ratios to limits measured in this same run")
    print(machine_header(), flush=True)
    ok = True
    signing: rsa.Result | None = None
    if "rsa" in parts or "delivery" in parts:
        signing, figure = rsa.run()
        emit(figure)
    if any(part in parts for part in ("delivery", "inbox", "timeline")):
        async with cluster() as pg:
            print(f"database:  PostgreSQL {pg.kind}", flush=True)
            for part in ("delivery", "inbox", "timeline"):
                if part not in parts:
                    continue
                try:
                    if part == "delivery":
                        assert signing is not None
                        figures: list[Figure] = await delivery.run(pg, signing)
                    elif part == "inbox":
                        figures = await inbox.run(pg)
                    else:
                        figures = await timeline.run(pg)
                except Exception as exc:
                    print(f"{part + ':':<11}FAILED: {type(exc).__name__}: {exc}", flush=True)
                    ok = False
                    continue
                for figure in figures:
                    emit(figure)
                    ok = ok and figure.valid
    print(f"total:     {time.perf_counter() - started:.0f} s runtime")
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Shoal's benchmarks, printed as ratios."
    )
    parser.add_argument("parts", nargs="*", metavar="PART", help=f"any of {', '.join(PARTS)}")
    args = parser.parse_args(argv)
    unknown = [p for p in args.parts if p not in PARTS]
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    try:
        return int(run_loop(_run(args.parts or PARTS)))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except asyncio.CancelledError:
        print("terminated", file=sys.stderr)
        return 143


if __name__ == "__main__":
    sys.exit(main())
