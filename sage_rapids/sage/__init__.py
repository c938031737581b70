"""The SAGE round between epochs: reduce the error profile to a 2-D map, pick
high-loss anchors and their neighbours, synthesize recipes, have the teacher label them.

May import `distillation`, `data` and the package root's utilities.
Must not import `run` or `scale`.
"""
