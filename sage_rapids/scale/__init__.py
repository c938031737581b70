"""Scaling out: launching a run's processes (torch's elastic launcher, the rendezvous
and its errors) and encoding a corpus once on a dask cluster into shards.

May import `distillation`, `data` and the package root's utilities.
Must not import `sage` or `run`: a launched process calls the run through the CLI.
"""
