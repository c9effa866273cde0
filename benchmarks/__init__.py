"""totalplace benchmarks: speed and memory at 10 thousand to 1 million residents.

Each ``benchmarks/bench_<suite>.py`` defines ``SUITE``, ``DEFAULT_SIZES`` and
``run(residents, workdir) -> dict`` (metrics it measured). Run them with::

    python -m benchmarks                       # every suite at its default sizes
    python -m benchmarks --only synth --residents 100000

The runner runs each (suite, size) in a fresh subprocess, adds wall time and peak resident
memory of that subprocess, and writes ``benchmarks/results/<suite>.json`` and
``benchmarks/results/README.md``. Heavy sizes should run under the shared lock:
``flock /tmp/totalplace-heavy.lock python -m benchmarks ...``.
"""
