"""Distillation in vector space: the teacher (loaded or fine-tuned), the student built
from it and its vectorized forward, the example table, losses, teacher targets, the
training epoch and evaluation.

May import `data` and the package root's utilities (backend, config, distributed, ...).
Must not import `sage`, `run` or `scale`.
"""
