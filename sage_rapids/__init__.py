"""sage-rapids: SAGE knowledge distillation in vector space.

A fine-tuned teacher is distilled into a small student on vectors `E_T[x]`; after
each epoch, synthetic points are made where the student's loss is high, labelled by
the teacher, and trained on. GPU libraries load lazily: the package works on CPU.
"""

__version__ = "0.1.0"

__all__ = ["distill", "Distillation", "ladder", "Ladder", "Config", "load_config", "ConfigError", "DataError",
           "ModelError", "RunDirError", "RunInterrupted", "DiskFull", "CheckpointError",
           "__version__"]

# Where each public name lives; imported on first use, so `import sage_rapids` stays
# light (no torch) until one is touched.
_PUBLIC = {"distill": "api", "Distillation": "api", "ladder": "api", "Ladder": "api",
           "Config": "config",
           "load_config": "config", "ConfigError": "config", "DataError": "data.rows",
           "ModelError": "distillation.models", "RunDirError": "artifacts",
           "RunInterrupted": "run.pipeline", "DiskFull": "artifacts",
           "CheckpointError": "run.checkpoint"}


def __getattr__(name: str):
    if name in _PUBLIC:
        import importlib

        return getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    raise AttributeError(f"module 'sage_rapids' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
