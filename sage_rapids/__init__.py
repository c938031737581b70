"""sage-rapids: SAGE knowledge distillation in vector space.

A fine-tuned teacher is distilled into a small student on vectors `E_T[x]`; after
each epoch, synthetic points are made where the student's loss is high, labelled by
the teacher, and trained on. GPU libraries load lazily: the package works on CPU.
"""

__version__ = "0.1.0"
