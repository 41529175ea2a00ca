"""The measurement scripts (``python benchmarks/X.py``) and the speed, load and demo-time tools they share.

Each script is thin: it parses flags into a config model, calls into :mod:`benchmarks.tools` and prints
(or writes a ``BenchmarkRecord`` JSON with ``--output-json``). The accuracy protocol the CLI runs
(``symoe bench``) is :mod:`orchestrator.bench`; this package is a checkout's, not part of the wheel.
"""
