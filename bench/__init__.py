"""Benchmarks of the sandbox and the helpers: scripts printing figures beside a floor measured in one run.

    python -m bench                 # every benchmark (make bench)
    python -m bench endpoints fuzz  # some of them

Each module prints the machine it ran on and a small table; none is a pass/fail test (the kit's rule:
timings belong in benchmarks). See README "Performance" for the latest figures.
"""
