"""Reading data: tasks and their GLUE layouts, table files (TSV, CSV, JSONL, Parquet),
Hugging Face datasets, unlabelled corpora cut into partitions, and encoded shards.

May import only the package root's utilities (config, schema, artifacts, progress).
Must not import models, training, the SAGE round, the run or scale-out code.
"""
