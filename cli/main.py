"""`sage-rapids`: parse, load config, resolve backend, call the library, print.

User errors (bad config, missing data, a model that cannot load) print one clear
paragraph and exit 2 (usage or config) or 1 (runtime), with no traceback.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from pathlib import Path

import click

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


# The library's user-facing errors, in the order they are matched (a subclass before its
# base), with the exit code each ends in: 2 for usage or config, 1 at run time.
USER_ERRORS = [
    ("sage_rapids.artifacts", "DiskFull", 1),
    ("sage_rapids.run.checkpoint", "CheckpointDamaged", 1),
    ("sage_rapids.run.deploy", "ExportError", 1),
    ("sage_rapids.config", "ConfigError", 2),
    ("sage_rapids.backend", "BackendError", 2),
    ("sage_rapids.artifacts", "RunDirError", 2),
    ("sage_rapids.run.checkpoint", "CheckpointError", 2),
    ("sage_rapids.data.rows", "DataError", 1),
    ("sage_rapids.distillation.models", "ModelError", 1),
]


def _loaded_error(err: Exception, module: str, name: str) -> bool:
    """Whether `err` is `module.name`. Only modules already imported are looked in: one that
    never loaded raised nothing, and importing it here (torch, for most) would make a
    refusal that needed none of them wait seconds for its message."""
    loaded = sys.modules.get(module)
    return loaded is not None and isinstance(err, getattr(loaded, name))


def _friendly_errors(func):
    """Turn the library's user-facing errors into a message and an exit code. With
    several ranks every rank meets the same error; rank 0 alone says it."""

    def say(message: str) -> None:
        if int(os.environ.get("RANK", 0)) == 0:
            click.echo(message, err=True)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except KeyboardInterrupt:
            say("stopped before training started; nothing to resume")
            sys.exit(130)
        except Exception as err:
            if _loaded_error(err, "sage_rapids.distillation.train", "NumericalError"):
                say(f"error: {err}. The checkpoint of the last good epoch is kept.")
                sys.exit(1)
            if _loaded_error(err, "sage_rapids.run.pipeline", "RunInterrupted"):
                say(f"stopped: {err}\nresume with: sage-rapids run --resume {err.run_dir}")
                sys.exit(128 + err.signal)  # 130 after SIGINT, 143 after SIGTERM
            if _loaded_error(err, "sage_rapids.scale.launch", "LaunchError"):
                click.echo(f"error: {err}", err=True)
                sys.exit(err.exit_code)
            for module, name, code in USER_ERRORS:
                if _loaded_error(err, module, name):
                    say(f"error: {err}")
                    sys.exit(code)
            raise

    return wrapper


def _load(config_path, overrides, device, models: bool = True):
    """The config of `--config` and `-o`, checked against the models' own configs too
    (`models`), so that a bad value stops the command before anything is written."""
    from sage_rapids.config import load_config

    def against_models(config) -> list[str]:  # loads torch: only for a config that parsed
        from sage_rapids.distillation.models import config_problems

        return config_problems(config)

    if device is not None:
        overrides = [*overrides, f"device={device}"]
    return load_config(config_path, list(overrides), overrides_from="-o",
                       checks=against_models if models else None)


config_option = click.option("--config", "config_path", type=click.Path(dir_okay=False),
                             default=None, help="YAML config; default: the embedded default.")
override_option = click.option("-o", "--override", "overrides", multiple=True,
                               metavar="KEY=VALUE", help="Override a config key, e.g. "
                               "-o train.epochs=2 (repeatable).")
device_option = click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]),
                             default=None, help="Compute device (overrides the config).")
quiet_option = click.option("--quiet", is_flag=True, help="No progress bars or epoch lines.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sage-rapids")
def main():
    """SAGE knowledge distillation in vector space (CPU, or GPU with RAPIDS)."""
    from sage_rapids.progress import quiet_libraries

    quiet_libraries()


@main.command()
@config_option
@override_option
@device_option
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Run directory (default runs/<timestamp>).")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False), default=None,
              help="Continue RUN_DIR from its last complete checkpoint.")
@click.option("--gpus", type=click.IntRange(min=1), default=None,
              help="Data-parallel on N GPUs of this machine (NCCL, one process each).")
@click.option("--nproc", type=click.IntRange(min=1), default=None,
              help="Data-parallel on N CPU processes of this machine (gloo).")
@click.option("--nnodes", type=click.IntRange(min=1), default=1, show_default=True,
              help="Machines taking part; run the same command on each.")
@click.option("--node-rank", type=click.IntRange(min=0), default=0, show_default=True,
              help="This machine's index among --nnodes (0 hosts the rendezvous).")
@click.option("--rdzv-endpoint", default=None, metavar="HOST:PORT",
              help="Where the machines meet (node 0's address); required with --nnodes > 1.")
@click.option("--rdzv-timeout", type=click.IntRange(min=1), default=600, show_default=True,
              metavar="SECONDS", help="How long the machines wait for each other.")
@click.option("--run-id", default=None, metavar="ID",
              help="Pairs the machines of one run explicitly (default: from the endpoint).")
@click.option("--max-restarts", type=click.IntRange(min=0), default=0, show_default=True,
              help="With --gpus / --nproc: restart every rank up to N times after one "
              "fails; they resume from the last complete checkpoint.")
@quiet_option
@_friendly_errors
def run(config_path, overrides, device, out, resume_dir, gpus, nproc, nnodes, node_rank,
        rdzv_endpoint, rdzv_timeout, run_id, max_restarts, quiet):
    """Distil a teacher into a student: cached teacher outputs, vector-space training with
    early stopping, the best epoch exported (SAGE augmentation with -o
    augment.strategy=sage; off by default)."""
    from sage_rapids.artifacts import default_run_dir, refuse_used_run_dir

    if gpus and nproc:
        raise click.UsageError("give --gpus or --nproc, not both")
    if (max_restarts or nnodes > 1) and not (gpus or nproc):
        raise click.UsageError("--max-restarts and --nnodes go with --gpus or --nproc")
    if gpus:
        device = "cuda"
    elif nproc:
        device = "cpu" if device in (None, "auto") else device
    if resume_dir:
        config, out = _resume_config(Path(resume_dir), config_path, overrides, device), \
            Path(resume_dir)
    else:
        config = _load(config_path, overrides, device)
        out = Path(out) if out else default_run_dir()
        refuse_used_run_dir(out)  # before any process starts
    from sage_rapids.distributed import torchrun_environment  # torch: once the config is good

    if nnodes > 1:
        out = out.resolve()  # the nodes compare run directories however they were spelled
    args = {"config": config, "out": str(out), "resume": resume_dir is not None, "quiet": quiet}
    if (gpus or nproc) and not torchrun_environment():
        from sage_rapids.scale.launch import launch

        if nnodes > 1 and not rdzv_endpoint:
            raise click.UsageError("--nnodes > 1 needs --rdzv-endpoint HOST:PORT (node 0)")
        if resume_dir:  # refused here, before any rank starts, rather than by every rank
            from sage_rapids.run.checkpoint import check_world_before_launch

            check_world_before_launch(out, (gpus or nproc) * nnodes)
        # the elastic agent's banners would bury the one line that matters; launch prints it
        logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
        logging.getLogger("torch.multiprocessing.spawn").setLevel(logging.ERROR)
        # a killed rank leaves a semaphore that the resource tracker frees at exit; its
        # "leaked semaphore" warning would follow the error paragraph (set before the
        # tracker starts: it is a process of its own and reads the warning filters then)
        quiet_tracker = "ignore::UserWarning:multiprocessing.resource_tracker"
        os.environ["PYTHONWARNINGS"] = ",".join(
            x for x in (os.environ.get("PYTHONWARNINGS"), quiet_tracker) if x)
        from sage_rapids.config import flat_config

        launch(worker, args, gpus or nproc, nnodes, node_rank, rdzv_endpoint, rdzv_timeout,
               run_id, max_restarts, flat_config(config),
               log=lambda msg: click.echo(msg, err=True))
        return
    worker(args)


@_friendly_errors
def worker(args: dict) -> None:
    """One process of a run: joins the torchrun environment when there is one (started by
    `--gpus`/`--nproc`, torchrun or srun), then runs the method; rank 0 prints."""
    from sage_rapids.api import distill
    from sage_rapids.artifacts import DiskFull
    from sage_rapids.backend import resolve_backend
    from sage_rapids.distributed import join, leave, torchrun_environment
    from sage_rapids.progress import quiet_libraries
    from sage_rapids.run import report

    quiet_libraries()
    config, quiet, resume = args["config"], args["quiet"], args["resume"]
    # torch elastic restarted every rank after one failed (--max-restarts): go on from the
    # last complete checkpoint, or start over cleanly when there is none yet
    restarts = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    if restarts and not resume:
        resume = restart_point(Path(args["out"]))
    local_rank = int(os.environ["LOCAL_RANK"]) if torchrun_environment() else None
    backend = resolve_backend(config.device, local_rank)
    dist = join(backend.name)
    try:
        _threads_per_process(backend, int(os.environ.get("LOCAL_WORLD_SIZE", 1)))
        log = (lambda msg: None) if quiet or not dist.is_main else \
            (lambda msg: click.echo(msg, err=True))
        ranks = f", {dist.world_size} ranks" if dist.active else ""
        if backend.note:
            log(backend.note)
        log(f"sage-rapids: {config.data.name}, device {backend.name}{ranks}, run directory "
            f"{args['out']}")
        log("implementations: " + ", ".join(f"{k} {v}" for k, v in
                                            backend.implementations.items()))
        if restarts:
            log(f"restart {restarts}: " + (f"resuming {args['out']} from its last complete "
                                           "checkpoint" if resume else "starting over (no "
                                           "complete checkpoint yet)"))
        try:
            result = distill(config=config, out=args["out"], quiet=quiet, log=log,
                             resume=resume, backend=backend, dist=dist, restarts=restarts)
        except DiskFull as err:
            raise err.with_kept(err.kept or what_is_kept(Path(args["out"]))) from None
        if dist.is_main:
            click.echo(report.format_summary(result.summary))
            click.echo(f"run directory: {args['out']}")
    finally:
        leave(dist)


@main.command()
@config_option
@override_option
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Folder for the shards and manifest.json (an interrupted encode resumes).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Start a dask cluster of N workers on this machine (one per GPU with "
              "--device cuda).")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Use a running dask cluster, e.g. tcp://10.0.0.5:8786 or tls://...")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu",
              show_default=True, help="Where the workers tokenize and run the teacher.")
@click.option("--rows-per-part", type=click.IntRange(min=1), default=50_000,
              show_default=True, help="Rows per partition (one shard, one dask task).")
@quiet_option
@_friendly_errors
def encode(config_path, overrides, inputs, out, workers, scheduler, device, rows_per_part,
           quiet):
    """Tokenize a corpus and label it with the config's teacher, once, into shards that
    `run` trains on with -o data.encoded=DIR (stages 0 and 1 on a dask cluster).

    INPUT: files or globs (.tsv, .csv, .jsonl, .parquet), labelled or not; the columns
    are the config's data.text_column / text_pair_column / label_column (or the GLUE
    task's).
    """
    from sage_rapids.artifacts import DiskFull
    from sage_rapids.scale.encode import EncodeError, encode_corpus

    if workers and scheduler:
        raise click.UsageError("give --workers or --scheduler, not both")
    config = _load(config_path, overrides, device)
    log = (lambda msg: None) if quiet else (lambda msg: click.echo(msg, err=True))
    try:
        encode_corpus(config, list(inputs), Path(out), workers, scheduler, device,
                      rows_per_part, quiet, log)
    except KeyboardInterrupt:
        click.echo("stopped: finished partitions are kept; the same command resumes", err=True)
        sys.exit(130)
    except EncodeError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    except DiskFull as err:
        raise err.with_kept("The partitions finished so far are kept, each shard verified by "
                            "its checksum: free space and run the same command again; they "
                            "are skipped.") from None


def restart_point(out: Path) -> bool:
    """After an automatic restart: True when `out` holds a complete checkpoint to resume
    from; otherwise the epoch rows written before the failure are removed (by whichever
    rank comes first), so the run starts over in the same folder."""
    from sage_rapids.run.checkpoint import CheckpointDamaged, CheckpointError, latest_checkpoint

    try:
        latest_checkpoint(out)
        return True
    except CheckpointDamaged:
        raise  # a restart must not quietly start over on a damaged checkpoint
    except CheckpointError:
        (out / "metrics.jsonl").unlink(missing_ok=True)
        return False


def what_is_kept(out: Path) -> str:
    """After a failure: the last complete checkpoint and how to go on from it."""
    import json

    from sage_rapids.run.checkpoint import CheckpointError, latest_checkpoint

    try:
        epoch = json.loads((latest_checkpoint(out) / "meta.json").read_text())["epoch"]
    except CheckpointError:
        return (f"No epoch had finished, so there is no checkpoint to keep: free space and "
                f"start again (another --out, or remove {out}).")
    return (f"The checkpoint of epoch {epoch} is kept and verified: free space, then "
            f"sage-rapids run --resume {out} (with the same --gpus / --nproc).")


def _threads_per_process(backend, local_world: int) -> None:
    """Several CPU processes on one machine share its cores instead of each taking all
    (OMP_NUM_THREADS, when set, wins). UMAP's numba kernels get as many threads as torch:
    otherwise each rank's numba pool takes every core, and under DDP the slowest rank
    sets everyone's pace."""
    import torch

    if backend.name != "cpu" or local_world <= 1:
        return
    threads = int(os.environ.get("OMP_NUM_THREADS") or 0) or \
        max(1, (os.cpu_count() or 1) // local_world)
    torch.set_num_threads(threads)
    os.environ.setdefault("NUMBA_NUM_THREADS", str(threads))  # read when numba is imported


def _resume_config(run_dir: Path, config_path, overrides, device):
    """The run's own config; a --config / -o that changes it is refused, by key."""
    from sage_rapids.artifacts import RunDirError
    from sage_rapids.config import ConfigError, flat_config, load_config

    saved_path = run_dir / "config.yaml"
    if not saved_path.is_file():
        raise RunDirError(f"{run_dir}: not a run directory (no config.yaml)")
    if config_path is not None or overrides:
        a = flat_config(load_config(saved_path))
        b = flat_config(_load(config_path or saved_path, overrides, None))
        changed = [f"{k}: run has {a[k]!r}, asked for {b[k]!r}" for k in a
                   if a[k] != b[k] and k != "device"]
        if changed:
            raise ConfigError(["cannot resume with a different config"] + changed,
                              str(saved_path))
    return _load(saved_path, [], device)


@main.command()
@config_option
@override_option
@device_option
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Run directory (default runs/<timestamp>); profile.json is written there.")
@quiet_option
@_friendly_errors
def profile(config_path, overrides, device, out, quiet):
    """Run a config and print what each stage, augmentation included, costs."""
    from sage_rapids.api import distill
    from sage_rapids.artifacts import default_run_dir
    from sage_rapids.run import report

    config = _load(config_path, overrides, device)
    out = Path(out) if out else default_run_dir()
    log = (lambda msg: None) if quiet else (lambda msg: click.echo(msg, err=True))
    summary = distill(config=config, out=out, quiet=quiet, log=log).summary
    click.echo(report.format_profile(json.loads((out / "profile.json").read_text())))
    click.echo(f"student dev accuracy {summary['student_dev_accuracy']:.4f}; "
               f"profile: {out / 'profile.json'}")


def _numbers(text: str | None, name: str) -> list[int] | None:
    """`1,2,3` -> [1, 2, 3]; a bad list is a usage error naming the option."""
    if text is None:
        return None
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated whole numbers, got {text!r}",
                                 param_hint=name) from None
    lowest = 0 if name in ("--seeds", "--layers") else 1
    if not values or min(values) < lowest:
        raise click.BadParameter(f"expected comma-separated numbers of at least {lowest}, "
                                 f"got {text!r}", param_hint=name)
    return values


@main.command()
@config_option
@override_option
@device_option
@click.option("--layers", default=None, metavar="0,1,2,3,4",
              help="Student depths (default 1,2,3,4), each from evenly spread teacher layers; "
              "0: the static student (the teacher's word vectors, pooled, and a head).")
@click.option("--widths", default=None, metavar="W,...",
              help="Also these widths for every depth (randomly initialised, behind a "
              "projection); default: the teacher's width only.")
@click.option("--seeds", default=None, metavar="0,1,2",
              help="Student seeds per rung (default 0); one teacher for all.")
@click.option("--within", type=float, default=None, metavar="POINTS",
              help="Name the smallest student within POINTS of the teacher's primary dev "
              "metric (default 1.0).")
@click.option("--max-latency", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="MS", help="Budget: at most MS milliseconds at batch 1.")
@click.option("--min-throughput", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="N", help="Budget: at least N examples/s at eval.batch_size. The "
              "verdict names the fastest model (fp32 or int8, student or teacher) within "
              "--within that meets the budget.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="The ladder's folder (default runs/<timestamp>).")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False), default=None,
              help="Finish the ladder in DIR: finished rungs are kept, the others resumed.")
@quiet_option
@_friendly_errors
def ladder(config_path, overrides, device, layers, widths, seeds, within, max_latency,
           min_throughput, out, resume_dir, quiet):
    """Distil students of several sizes from one teacher (one fine-tuning, one targets
    pass) and print what each buys: dev metric, throughput, latency, parameters, size."""
    if out and resume_dir:
        raise click.UsageError("give --out or --resume, not both")
    layers, widths, seeds = (_numbers(layers, "--layers"), _numbers(widths, "--widths"),
                             _numbers(seeds, "--seeds"))
    from sage_rapids.api import ladder as run_ladder
    from sage_rapids.run.ladder_table import format_ladder

    log = (lambda msg: None) if quiet else (lambda msg: click.echo(msg, err=True))
    config = config_path
    if config_path or overrides or not resume_dir:  # -o errors name -o (rungs set layers)
        config = _load(config_path, overrides, None, models=False)
    result = run_ladder(layers, widths=widths, seeds=seeds, within=within,
                        max_latency=max_latency, min_throughput=min_throughput, config=config,
                        overrides=[], out=resume_dir or out,
                        device=device, quiet=quiet, resume=resume_dir is not None, log=log)
    click.echo(format_ladder(result.table))
    click.echo(f"ladder: {result.out / 'ladder.json'}, plot {result.out / 'ladder.png'}")


@main.group()
def config():
    """Check or print a config."""


@config.command("validate")
@click.argument("path", type=click.Path(dir_okay=False))
@override_option
@_friendly_errors
def config_validate(path, overrides):
    """Check PATH; print every problem at once."""
    _load(path, overrides, None)
    click.echo(f"{path}: ok")


@config.command("show")
@click.argument("path", type=click.Path(dir_okay=False), required=False)
@override_option
@_friendly_errors
def config_show(path, overrides):
    """Print the resolved config of PATH or the embedded default: every key, the library's
    defaults (the same for every file) filled in where PATH and -o say nothing."""
    import yaml

    from sage_rapids.config import config_to_dict

    base = (f"# {path}: its keys and -o on top of the library's defaults (docs/"
            "configuration.md)") if path else \
        "# the embedded default (configs/default.yaml): the library's defaults and its data budget"
    click.echo(base)
    click.echo(yaml.safe_dump(config_to_dict(_load(path, overrides, None, models=False)),
                              sort_keys=False), nl=False)


@main.command()
@config_option
@override_option
@device_option
@quiet_option
@_friendly_errors
def teacher(config_path, overrides, device, quiet):
    """Fine-tune the config's teacher on its task (cached) and report dev accuracy."""
    config = _load(config_path, [*overrides, "teacher.finetune=true"], device)
    from sage_rapids.backend import resolve_backend
    from sage_rapids.data.tasks import load_task
    from sage_rapids.distillation.evaluate import score_classifier
    from sage_rapids.distillation.teacher import finetune_source, finetune_teacher

    backend = resolve_backend(config.device)
    task = load_task(config.data, config.seed)
    path = finetune_teacher(config.teacher, config.data, finetune_source(config.teacher, task),
                            backend, config.seed, quiet, log=lambda m: click.echo(m, err=True))
    scores = score_classifier(path, task.dev, config.data.max_length, backend,
                              config.eval.batch_size, task.metrics)
    click.echo(f"teacher: {path}")
    for name, value in scores.items():
        click.echo(f"dev {name}: {value:.4f}")


@main.command()
@click.argument("model_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--data", "data_name", default=None,
              help="glue/<task>, or a local .tsv/.csv/.jsonl/.parquet file. Default: the "
              "run's own data when MODEL_DIR is RUN_DIR/student, else glue/sst2.")
@click.option("--split", default="dev", show_default=True,
              help="train, dev, or a GLUE task's named dev file (MNLI: dev_matched, "
                   "dev_mismatched).")
@click.option("--text-column", default=None)
@click.option("--text-pair-column", default=None)
@click.option("--label-column", default=None)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True, help="Compute device.")
@_friendly_errors
def evaluate(model_dir, data_name, split, text_column, text_pair_column, label_column, device):
    """Score an exported student (or any classifier folder) on a dataset; a regression
    model (one output) by Pearson and Spearman correlation. The data's labels are matched
    to the model's classes by name (`id2label`); labels the model does not have are
    refused."""
    from transformers import AutoConfig

    from sage_rapids.backend import resolve_backend
    from sage_rapids.data.tasks import DataError, load_split, task_metrics
    from sage_rapids.distillation.evaluate import score_classifier
    from sage_rapids.distillation.models import resolve_model_path

    cfg = _evaluation_data(Path(model_dir), data_name, text_column, text_pair_column,
                           label_column)
    model_config = AutoConfig.from_pretrained(resolve_model_path(model_dir))
    regression = model_config.num_labels == 1 or model_config.problem_type == "regression"
    kind = "regression" if regression else None
    named = split not in ("train", "dev")
    dataset = load_split(cfg, "dev" if named else split, task_type=kind,
                         where=split if named and cfg.name != "local" else None)
    if dataset is None:
        raise DataError(f"{data_name or cfg.name}: no {split} split")
    if dataset.regression != regression:
        raise DataError(f"{dataset.source}: {'scores' if dataset.regression else 'class labels'}"
                        f" for a {'regression' if regression else 'classification'} model "
                        f"({model_dir}); give the matching data")
    backend = resolve_backend(device)
    scores = score_classifier(model_dir, dataset, cfg.max_length, backend, 128,
                              task_metrics(cfg, regression),
                              log=lambda msg: click.echo(msg, err=True))
    for name, value in scores.items():
        click.echo(f"{name}: {value:.4f}")
    click.echo(f"examples: {len(dataset)}")


def _evaluation_data(model_dir: Path, data_name, text_column, text_pair_column,
                     label_column):
    """The data section `evaluate` reads: `--data`, else the run's own (MODEL_DIR is
    RUN_DIR/student, whose config.yaml records where its data was found), else SST-2."""
    from dataclasses import replace

    from sage_rapids.config import DataConfig, load_config

    columns = {k: v for k, v in (("text_column", text_column), ("text_pair_column",
               text_pair_column), ("label_column", label_column)) if v is not None}
    run_config = model_dir.parent / "config.yaml"
    if data_name is None and run_config.is_file():
        data = load_config(run_config).data
        return replace(data, encoded=None, train_limit=None, dev_limit=None, **columns)
    data_name = data_name or "glue/sst2"
    if data_name.startswith("glue/"):
        return DataConfig(name=data_name, **columns)
    return DataConfig(name="local", train_file=data_name, dev_file=data_name,
                      **{"text_column": "sentence", **columns})


@main.command()
@click.argument("student_dir", type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder for the ONNX files (default: STUDENT_DIR/../onnx).")
@click.option("--format", "fmt", type=click.Choice(["onnx"]), default="onnx", show_default=True)
@click.option("--quantize", type=click.Choice(["int8"]), default=None,
              help="Also write a dynamically quantized int8 copy.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Config whose data section holds the dev set (default: the run's).")
@click.option("--tolerance", type=float, default=1.0, show_default=True,
              help="Points of the primary dev metric a format may lose before it is flagged.")
@_friendly_errors
def export(student_dir, out, fmt, quantize, config_path, tolerance):
    """Export a run's student to ONNX (and int8), each format re-scored on the run's dev
    set through onnxruntime beside the PyTorch student."""
    from sage_rapids.run.deploy import export_student

    student = Path(student_dir)
    export_student(student, Path(out) if out else student.parent / "onnx", quantize,
                   config_path and Path(config_path), tolerance,
                   log=lambda msg: click.echo(msg))


def entry() -> None:
    """The console script: `main` with its exit code, ended without the interpreter's
    teardown once pyarrow is loaded. pyarrow's thread pools can abort that teardown
    (`terminate called without an active exception`, apache/arrow#34314), which turned a
    finished command's exit code into SIGABRT; the exit handlers still run first."""
    try:
        main()
        code = 0
    except SystemExit as done:
        code = done.code
    if "pyarrow" not in sys.modules:
        sys.exit(code)
    if not isinstance(code, int):  # sys.exit("message") and sys.exit(None), as Python does
        if code is not None:
            print(code, file=sys.stderr)
        code = 0 if code is None else 1
    import atexit

    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
