"""`python -m bench [NAME...]`: run the benchmarks (all of them by default) and print their tables.

python -m bench                         # endpoints, throughput, assertion, notebooks, fuzz, room
python -m bench endpoints assertion     # some of them
python -m bench soak                    # 30 minutes, only when named (python -m bench.soak --minutes 5)
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time

BENCHMARKS = ("endpoints", "throughput", "assertion", "notebooks", "fuzz", "room")
#: Run only when named: the soak takes 30 minutes.
ON_REQUEST = ("soak",)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "names",
        nargs="*",
        help=f"benchmarks: {', '.join(BENCHMARKS + ON_REQUEST)} (default: all but {', '.join(ON_REQUEST)})",
    )
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS + ON_REQUEST]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}, expected some of {list(BENCHMARKS + ON_REQUEST)}")
    started = time.monotonic()
    status = 0
    for name in args.names or BENCHMARKS:
        module = importlib.import_module(f"bench.{name}")
        status |= module.main([])
        print(flush=True)
    command = " ".join(["python -m bench", *sys.argv[1:]])
    print(f"All benchmarks done in {time.monotonic() - started:.0f} s: `{command}`.")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
