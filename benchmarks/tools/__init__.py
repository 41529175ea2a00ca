"""What the benchmark scripts measure with: speed, load, demo time, knowledge store, gate quality.

One module per measurement (:mod:`~benchmarks.tools.speed` also holds the scripts' shared flag parsing
and result writing). They sit above every package of the project (they import ``orchestrator``,
``batching``, ``zoo``); nothing in the installed packages imports them.
"""
