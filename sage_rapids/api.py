"""The Python entry point: `distill` a teacher into a student from a script or a notebook.

    import sage_rapids
    result = sage_rapids.distill(train_df, dev_df, teacher="my-teacher",
                                 overrides={"data.text_column": "review",
                                            "teacher.finetune": False})
    result.student  # a transformers model, ready to use

The command line calls this same function. Objects held in memory (a DataFrame, a
`datasets.Dataset`, a list of dicts, a loaded `PreTrainedModel`) are written once to a
folder the run reads them from, `<run directory>/inputs` (so `sage-rapids run --resume`
can continue the run); with `out=None` the run directory is a temporary folder, removed
at the end unless the run was interrupted. A call leaves the process as it found it: the
global torch, NumPy and `random` states, torch's thread count and the signal handlers are
restored.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from .config import Config, ConfigError, Overrides, load_config

__all__ = ["distill", "Distillation", "ladder", "Ladder"]


@dataclass(frozen=True)
class Distillation:
    """What a `distill` call returns.

    Attributes:
        student: the best epoch's student, a `transformers` sequence classifier on CPU
            in eval mode (`student.to("cuda")` to move it).
        tokenizer: the teacher's tokenizer, which the student uses.
        summary: the run's headline numbers (what `summary.json` holds).
        metrics: one dict per epoch (what `metrics.jsonl` holds).
        run_dir: the run directory, or None when `out=None` kept nothing on disk.
        config: the resolved config the run used.
    """

    student: Any
    tokenizer: Any
    summary: dict
    metrics: list[dict]
    run_dir: Path | None
    config: Config


def distill(train: Any = None, dev: Any = None, *, teacher: Any = None, tokenizer: Any = None,
            config: str | Path | Config | None = None, overrides: Overrides = (),
            out: str | Path | None = None, device: str | None = None, quiet: bool = False,
            resume: bool = False, log: Callable[[str], None] | None = None,
            backend=None, dist=None, restarts: int = 0) -> Distillation:
    """Distil a teacher into a student with SAGE and return the student.

    Args:
        train: training examples, or None for the config's `data` section. A pandas
            DataFrame, a list of dicts, a `datasets.Dataset`, or a `datasets.DatasetDict`
            (its `data.train_split` and `data.dev_split`; `dev` is then not needed).
            Columns are named by `data.text_column`, `data.text_pair_column` and
            `data.label_column`; unlabelled training text needs `loss.alpha: 1.0`.
        dev: labelled dev examples in the same form; required with an in-memory `train`
            (the best epoch is picked on it).
        teacher: a hub name or folder, or a loaded `PreTrainedModel` (then `tokenizer` is
            required). Default: `teacher.model` of the config. It is fine-tuned first only
            when `teacher.finetune` is true (the embedded default says true).
        tokenizer: the tokenizer of an in-memory `teacher`.
        config: a YAML path, a `Config`, or None for the embedded default.
        overrides: `{"train.epochs": 2}` or `["train.epochs=2"]`, checked like YAML.
        out: run directory (checkpoints, exported student, metrics); None keeps nothing.
        device: `auto`, `cpu` or `cuda` (overrides the config's `device`).
        quiet: no progress bars or per-epoch lines.
        resume: continue `out` after its last complete checkpoint.
        log: where per-epoch lines go (default: print); ignored when quiet.
        backend, dist: for launchers that resolved them already (the command line).
        restarts: for launchers: automatic restarts before this attempt (in the summary).

    Returns:
        A `Distillation` holding the student, its tokenizer, the summary and metrics.

    Raises:
        ConfigError: a bad config key or value (every problem at once), or inputs that do
            not fit together.
        DataError, ModelError: data or a model that cannot be read (a bad row of an
            in-memory input is named as passed: `dev= (DataFrame), row 3: ...`).
        RunInterrupted: Ctrl-C or SIGTERM; the last complete checkpoint is kept in
            `err.run_dir` (a temporary folder when `out=None`).
    """
    from .artifacts import refuse_used_run_dir
    from .backend import resolve_backend
    from .data.tasks import data_found
    from .distillation.models import config_problems, load_classifier
    from .distributed import Dist
    from .progress import library_bars_off
    from .run import pipeline

    dist = dist or Dist()
    keep = out is not None
    run_dir = Path(out) if keep else Path(tempfile.mkdtemp(prefix="sage-rapids-"))
    names: list[tuple[str, str]] = []
    try:
        with preserved_global_state(), library_bars_off(quiet):
            # every problem before any work, the models' own configs included
            named = isinstance(teacher, (str, Path))  # a teacher by name is checked here too
            base = load_config(config, overrides, checks=config_problems if teacher is None
                               else None)
            if named:
                base = load_config(base, {"teacher.model": str(teacher)}, checks=config_problems)
            if keep and not resume:
                refuse_used_run_dir(run_dir)  # before inputs/ is written into it
            extra = materialise(train, dev, teacher, tokenizer, run_dir / "inputs", dist,
                                base.data.label_column or "label")
            names = input_names(train, dev, extra)  # for errors about the files written
            if extra.pop("scores", False) and base.data.task_type is None:
                extra["data.task_type"] = "regression"  # a float label column: scores
            if device is not None:
                extra["device"] = device
            cfg = load_config(base, extra, checks=None if teacher is None else
                              config_problems) if extra else base  # distill()'s arguments win
            cfg = replace(cfg, data=data_found(cfg.data))  # config.yaml: where data was found
            backend = backend or resolve_backend(cfg.device)
            say = (lambda message: None) if quiet else (log or print)
            with warnings_named_as_given(names):
                summary = pipeline.run(cfg, backend, run_dir, quiet=quiet, log=say,
                                       resume=resume, dist=dist, restarts=restarts)
            student, tok = load_classifier(str(run_dir / "student")) if dist.is_main else \
                (None, None)
            metrics = [json.loads(line) for line in
                       (run_dir / "metrics.jsonl").read_text().splitlines()] \
                if dist.is_main else []
    except pipeline.RunInterrupted:
        raise  # its checkpoint and inputs stay in run_dir, to resume from
    except BaseException as err:
        if not keep:
            shutil.rmtree(run_dir, ignore_errors=True)
        given = named_as_given(err, names)
        if given is not err:
            raise given from None
        raise
    if not keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    return Distillation(student, tok, summary, metrics, run_dir if keep else None, cfg)


@dataclass(frozen=True)
class Ladder:
    """What a `ladder` call returns.

    Attributes:
        table: each rung's dev metric beside its measured throughput, latency, parameters
            and size, the teacher's, the Pareto fronts and `smallest_within` (what
            `ladder.json` holds).
        out: the ladder's folder: a run directory per rung and seed, `ladder.json`,
            `ladder.png`.
    """

    table: dict
    out: Path

    @property
    def smallest_within(self) -> str | None:
        """The smallest rung within `within` points of the teacher, or None."""
        return self.table["smallest_within"]


def ladder(layers=None, *, widths=None, seeds=None, within: float | None = None,
           max_latency: float | None = None, min_throughput: float | None = None,
           config: str | Path | Config | None = None, overrides: Overrides = (),
           out: str | Path | None = None, device: str | None = None, quiet: bool = False,
           resume: bool = False, log: Callable[[str], None] | None = None) -> Ladder:
    """Distil students of several sizes from one teacher and say what each buys.

    Every rung trains with the config's settings, from one fine-tuned teacher and one pass
    of its targets; each (rung, seed) is a run directory of its own under `out`.

    Args:
        layers: student depths (default 1, 2, 3, 4); at the teacher's width each student
            is built from evenly spread teacher layers; 0 is the static student (no
            transformer layer, `student.layers: []`).
        widths: also these widths for every depth (randomly initialised students behind a
            projection); None: the teacher's width only.
        seeds: student seeds, `train.seed` (default 0); the config's `seed` keeps one
            teacher and one training subset for all.
        within: points of the teacher's primary dev metric a student may lose and still be
            named as close enough (default 1.0).
        max_latency, min_throughput: the budget (milliseconds at batch 1, examples/s at
            `eval.batch_size`): the verdict names the fastest (format, model) within
            `within` that meets it, every rung's int8 copy and the teacher's ONNX and
            int8 copies included.
        config, overrides, device, quiet, log: as for `distill`.
        out: the ladder's folder (default `runs/<timestamp>`), which must be new unless
            `resume`: then finished rungs are kept, the others resumed, and anything not
            given comes from the ladder's saved settings (what is given must match them).

    Returns:
        A `Ladder` with the table and the folder.

    Raises:
        ConfigError: a bad config, a rung the teacher cannot give, or settings that differ
            from those of the ladder resumed.
        RunDirError: `out` is not empty and `resume` is not set.
        CheckpointError: `resume` of a folder that holds no ladder.
    """
    from .artifacts import RunDirError, default_run_dir
    from .backend import resolve_backend
    from .data.tasks import data_found
    from .progress import library_bars_off
    from .run.ladder import Rung, run_ladder, saved_ladder

    folder = Path(out) if out is not None else default_run_dir()
    with preserved_global_state(), library_bars_off(quiet):
        if resume:
            saved = saved_ladder(folder)
            base = saved["config"] if config is None else config
            rungs = saved["rungs"] if layers is None and widths is None else None
            seeds = saved["seeds"] if seeds is None else seeds
            within = saved["within"] if within is None else within
        else:
            if folder.exists() and any(folder.iterdir()):
                raise RunDirError(f"{folder}: not empty; choose another --out, or resume the "
                                  f"ladder in it with --resume {folder}")
            base, rungs = config, None
        if rungs is None:
            rungs = [Rung(int(k), None if w is None else int(w))
                     for k in (layers or (1, 2, 3, 4)) for w in (widths or [None])]
        seeds = [int(x) for x in (seeds if seeds is not None else (0,))]
        if not rungs or not seeds:
            raise ConfigError(["ladder: give at least one depth and one seed"], "ladder()")
        cfg = load_config(base, overrides)
        cfg = load_config(cfg, [f"device={device}"]) if device else cfg
        cfg = replace(cfg, data=data_found(cfg.data))  # config.yaml: where data was found
        say = (lambda message: None) if quiet else (log or print)
        table = run_ladder(cfg, rungs, seeds, folder, resolve_backend(cfg.device),
                           1.0 if within is None else float(within), quiet, say,
                           budget={"max_latency_ms": max_latency,
                                   "min_throughput": min_throughput})
    return Ladder(table, folder)


def materialise(train, dev, teacher, tokenizer, folder: Path, dist,
                label: str = "label") -> dict:
    """Write in-memory inputs where the run reads them; the overrides that point there,
    and `scores: True` when the training rows' `label` column has a float dtype (a
    regression target, as `datasets` and transformers read one).

    Raises:
        ConfigError: a `dev` missing, an unknown input type, or a model without tokenizer.
    """
    extra: dict[str, Any] = {}
    if teacher is not None:
        if isinstance(teacher, (str, Path)):
            extra["teacher.model"] = str(teacher)
        else:
            if tokenizer is None:
                raise ConfigError(["teacher: an in-memory model needs its tokenizer= too"],
                                  "distill()")
            if dist.is_main:
                teacher.save_pretrained(folder / "teacher", safe_serialization=True)
                tokenizer.save_pretrained(folder / "teacher")
            dist.barrier()
            extra["teacher.model"] = str(folder / "teacher")
    if train is None:
        if dev is not None:
            raise ConfigError(["dev: give train= too, or neither (the config's data)"],
                              "distill()")
        return extra
    if _is_dataset_dict(train):
        if dist.is_main:
            train.save_to_disk(str(folder / "data"))
        dist.barrier()
        return {**extra, "data.name": "hf", "data.path": str(folder / "data")}
    if dev is None:
        raise ConfigError(["dev: labelled dev examples are required with an in-memory "
                           "train= (the best epoch is chosen on them)"], "distill()")
    if _is_dataset(train) and _is_dataset(dev):
        if dist.is_main:
            from datasets import DatasetDict

            DatasetDict({"train": train, "validation": dev}).save_to_disk(str(folder / "data"))
        dist.barrier()
        return {**extra, "data.name": "hf", "data.path": str(folder / "data"),
                "data.train_split": "train", "data.dev_split": "validation"}
    files, scores = {}, False
    for split, rows in (("train", train), ("dev", dev)):
        files[split] = folder / f"{split}.jsonl"
        frame = as_frame(rows, split)
        scores = scores or (split == "train" and label in frame and
                            frame[label].dtype.kind == "f")
        if dist.is_main:
            files[split].parent.mkdir(parents=True, exist_ok=True)
            frame.to_json(files[split], orient="records", lines=True, force_ascii=False)
    dist.barrier()
    return {**extra, "data.name": "local", "data.train_file": str(files["train"]),
            "data.dev_file": str(files["dev"]), "scores": scores}


def input_names(train, dev, written: dict) -> list[tuple[str, str]]:
    """How errors name the in-memory inputs `materialise` wrote (its overrides, `written`):
    (a pattern of the file or split written, what the caller passed). A DatasetDict's
    pattern keeps the split's name for `{split}`."""
    if "data.train_file" in written:
        return [(re.escape(written[f"data.{split}_file"]), f"{split}= ({_kind(rows)})")
                for split, rows in (("train", train), ("dev", dev))]
    if "data.path" not in written:
        return []
    path = re.escape(written["data.path"])
    if "data.dev_split" not in written:
        return [(path + r"\[(?P<split>[^\]]*)\]", "train= (DatasetDict), split '{split}'")]
    return [(path + re.escape(f"[{written[f'data.{split}_split']}]"),
             f"{split}= (datasets.Dataset)") for split in ("train", "dev")]


def _kind(rows) -> str:
    if _is_dataset(rows):
        return "datasets.Dataset"
    return "list of dicts" if isinstance(rows, (list, tuple)) else type(rows).__name__


def named_as_given(err: BaseException, names: list[tuple[str, str]]) -> BaseException:
    """A `DataError` or `ConfigError` about a file `materialise` wrote, naming what the
    caller passed instead: `<run>/inputs/dev.jsonl:4: unknown label 'x'` becomes
    `dev= (DataFrame), row 3: unknown label 'x'` (line k holds row k - 1, as a split's
    row k does). `err` itself when it names none of them."""
    from .data.rows import DataError

    if isinstance(err, DataError) and renamed(str(err), names) != str(err):
        return DataError(renamed(str(err), names))
    if isinstance(err, ConfigError) and any(renamed(p, names) != p for p in err.problems):
        return ConfigError([renamed(p, names) for p in err.problems], err.source)
    return err


def renamed(text: str, names: list[tuple[str, str]]) -> str:
    """`text` with the files `materialise` wrote named as the caller passed them (see
    `named_as_given`); a list of their lines (`lines 3, 5`, as the `bad_rows: skip`
    warning gives) becomes rows (`rows 2, 4`)."""
    before = text
    for pattern, name in names:
        text = re.sub(pattern + r"(?::(?P<n>\d+))?", lambda m, name=name: name.format(
            **m.groupdict()) + (f", row {int(m['n']) - 1}" if m["n"] else ""), text)
    if text == before:
        return text
    return re.sub(r"\blines (\d+(?:, \d+)*)", lambda m: "rows " + ", ".join(
        str(int(n) - 1) for n in m[1].split(", ")), text)


@contextmanager
def warnings_named_as_given(names: list[tuple[str, str]]) -> Iterator[None]:
    """While the block runs, a warning about a file `materialise` wrote names what the
    caller passed instead (`train= (DataFrame): skipped 2 bad rows ..., rows 2, 4`)."""
    show = warnings.showwarning

    def shown(message, category, filename, lineno, file=None, line=None):
        text = renamed(str(message), names)
        if text != str(message):
            message = category(text)
        show(message, category, filename, lineno, file, line)

    warnings.showwarning = shown
    try:
        yield
    finally:
        warnings.showwarning = show


def as_frame(rows, name: str):
    """A DataFrame, a `datasets.Dataset` or a list of dicts as a DataFrame.

    Raises:
        ConfigError: anything else.
    """
    import pandas as pd

    if _is_dataset(rows):
        rows = rows.to_pandas()
    elif isinstance(rows, (list, tuple)):
        rows = pd.DataFrame(list(rows))
    if not isinstance(rows, pd.DataFrame):
        raise ConfigError([f"{name}: expected a pandas DataFrame, a datasets.Dataset or "
                           f"DatasetDict, or a list of dicts; got {type(rows).__name__}"],
                          "distill()")
    return rows


def _is_dataset(obj) -> bool:
    return type(obj).__name__ == "Dataset" and hasattr(obj, "features")


def _is_dataset_dict(obj) -> bool:
    return type(obj).__name__ == "DatasetDict" and hasattr(obj, "save_to_disk")


@contextmanager
def preserved_global_state():
    """Restore what a run changes process-wide: the global RNGs (the run seeds torch's
    per stage) and torch's thread count."""
    states = (torch.get_rng_state(), np.random.get_state(), random.getstate(),
              torch.get_num_threads())
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    try:
        yield
    finally:
        torch.set_rng_state(states[0])
        np.random.set_state(states[1])
        random.setstate(states[2])
        torch.set_num_threads(states[3])
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
