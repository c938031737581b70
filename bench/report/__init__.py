"""The sections of `docs/results.md`, one module per section or benchmark family.

Each module turns the JSON a benchmark wrote into `bench/results/` into Markdown:
`common` holds the shared helpers (paths, `load`, `pct`, `machine`, `table`, `arm_name`),
`default_run` the embedded default and the teacher recipes, `speed` the timing and memory
sections, `accuracy` the accuracy studies and their paired comparisons, `guidance` and
`convergence` the two pre-registered studies, `tasks` the STS-B and WNLI section.
`bench/results_doc.py` assembles them in order. The modules import each other
relatively, so they never collide with the benchmark scripts of the same names in `bench/`.
"""
