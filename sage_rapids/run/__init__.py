"""One run of the method: preparation (stages 0 and 1), the pipeline's epochs of
train / augment / evaluate, checkpoints, the recorder that owns the run directory, and
the end-of-run report.

May import `sage`, `distillation`, `data` and the package root's utilities.
Must not import `scale` (launching processes and encoding corpora sit beside the run).
"""
