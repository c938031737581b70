"""`sage-rapids`: parse, load config, resolve backend, call the library, print.

User errors (bad config, missing data, a model that cannot load) print one clear
paragraph and exit 2 (usage or config) or 1 (runtime), with no traceback.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path

import click

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _friendly_errors(func):
    """Turn the library's user-facing errors into a message and an exit code."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from sage_rapids.artifacts import RunDirError
        from sage_rapids.backend import BackendError
        from sage_rapids.config import ConfigError
        from sage_rapids.data import DataError
        from sage_rapids.models import ModelError
        from sage_rapids.train import NumericalError

        try:
            return func(*args, **kwargs)
        except (ConfigError, BackendError, RunDirError) as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(2)
        except (DataError, ModelError, NumericalError) as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(1)

    return wrapper


def _load(config_path, overrides, device):
    from sage_rapids.config import load_config

    if device is not None:
        overrides = [*overrides, f"device={device}"]
    return load_config(config_path, list(overrides))


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
@quiet_option
@_friendly_errors
def run(config_path, overrides, device, out, quiet):
    """Distil a teacher into a student with SAGE augmentation."""
    from sage_rapids import pipeline, report
    from sage_rapids.artifacts import default_run_dir
    from sage_rapids.backend import resolve_backend

    config = _load(config_path, overrides, device)
    backend = resolve_backend(config.device)
    out = Path(out) if out else default_run_dir()
    log = (lambda msg: None) if quiet else (lambda msg: click.echo(msg, err=True))
    log(f"sage-rapids: {config.data.name}, device {backend.name}, run directory {out}")
    summary = pipeline.run(config, backend, out, quiet=quiet, log=log)
    click.echo(report.format_summary(summary))
    click.echo(f"run directory: {out}")


@main.command()
@config_option
@override_option
@device_option
@click.option("--out", type=click.Path(file_okay=False), default=None)
@quiet_option
@_friendly_errors
def profile(config_path, overrides, device, out, quiet):
    """Run a config and print what each stage, augmentation included, costs."""
    from sage_rapids import pipeline, report
    from sage_rapids.artifacts import default_run_dir
    from sage_rapids.backend import resolve_backend

    config = _load(config_path, overrides, device)
    backend = resolve_backend(config.device)
    out = Path(out) if out else default_run_dir()
    log = (lambda msg: None) if quiet else (lambda msg: click.echo(msg, err=True))
    summary = pipeline.run(config, backend, out, quiet=quiet, log=log)
    click.echo(report.format_profile(json.loads((out / "profile.json").read_text())))
    click.echo(f"student dev accuracy {summary['student_dev_accuracy']:.4f}; "
               f"profile: {out / 'profile.json'}")


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
    """Print the resolved config (defaults filled in) of PATH or the embedded default."""
    import yaml

    from sage_rapids.config import config_to_dict

    click.echo(yaml.safe_dump(config_to_dict(_load(path, overrides, None)), sort_keys=False),
               nl=False)


@main.command()
@config_option
@override_option
@device_option
@quiet_option
@_friendly_errors
def teacher(config_path, overrides, device, quiet):
    """Fine-tune the config's teacher on its task (cached) and report dev accuracy."""
    from sage_rapids.backend import resolve_backend
    from sage_rapids.data import load_task
    from sage_rapids.teacher import finetune_teacher

    config = _load(config_path, [*overrides, "teacher.finetune=true"], device)
    backend = resolve_backend(config.device)
    task = load_task(config.data, config.seed)
    path = finetune_teacher(config.teacher, config.data, task.train, backend, config.seed,
                            quiet, log=lambda m: click.echo(m, err=True))
    accuracy = _score(path, task.dev, config.data.max_length, backend,
                      config.eval.batch_size, quiet)
    click.echo(f"teacher: {path}\ndev accuracy: {accuracy['accuracy']:.4f}")


@main.command()
@click.argument("model_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--data", "data_name", default="glue/sst2", show_default=True,
              help="glue/<task>, or a local .tsv/.csv/.jsonl/.parquet file.")
@click.option("--split", default="dev", show_default=True, type=click.Choice(["train", "dev"]))
@click.option("--text-column", default=None)
@click.option("--text-pair-column", default=None)
@click.option("--label-column", default=None)
@device_option
@_friendly_errors
def evaluate(model_dir, data_name, split, text_column, text_pair_column, label_column, device):
    """Score an exported student (or any classifier folder) on a dataset."""
    from sage_rapids.backend import resolve_backend
    from sage_rapids.config import DataConfig
    from sage_rapids.data import DataError, load_split

    if data_name.startswith("glue/"):
        cfg = DataConfig(name=data_name, text_column=text_column,
                         text_pair_column=text_pair_column, label_column=label_column)
    else:
        cfg = DataConfig(name="local", train_file=data_name, dev_file=data_name,
                         text_column=text_column or "sentence",
                         text_pair_column=text_pair_column, label_column=label_column)
    dataset = load_split(cfg, split)
    if dataset is None:
        raise DataError(f"{data_name}: no {split} split")
    backend = resolve_backend(device or "auto")
    scores = _score(model_dir, dataset, cfg.max_length, backend, 128, True)
    for name, value in scores.items():
        click.echo(f"{name}: {value:.4f}")
    click.echo(f"examples: {len(dataset)}")


def _score(model_dir, dataset, max_length, backend, batch_size, quiet) -> dict:
    """Token-level accuracy of a saved classifier: what a plain transformers user sees."""
    import torch

    from sage_rapids.evaluate import classification_metrics
    from sage_rapids.models import load_classifier
    from sage_rapids.table import encode_dataset, sorted_batches

    model, tokenizer = load_classifier(str(model_dir))
    model.to(backend.device)
    table, _ = encode_dataset(dataset, tokenizer, max_length, backend)
    ids, lengths = backend.to_torch(table.ids), backend.to_torch(table.lengths)
    preds = torch.empty(len(table), dtype=torch.long, device=backend.device)
    with torch.no_grad():
        for index in sorted_batches(table.host_lengths, batch_size):
            width = int(table.host_lengths[index].max())
            idx = torch.as_tensor(index, device=backend.device)
            mask = (torch.arange(width, device=backend.device)[None] < lengths[idx, None]).long()
            kwargs = {}
            if table.type_ids is not None:
                kwargs["token_type_ids"] = backend.to_torch(table.type_ids)[idx, :width].long()
            logits = model(input_ids=ids[idx, :width].long(), attention_mask=mask, **kwargs).logits
            preds[idx] = logits.argmax(-1)
    return classification_metrics(backend.to_host(preds), dataset.labels, ["accuracy"])


if __name__ == "__main__":
    main()
