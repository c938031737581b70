"""The student in the formats people deploy: ONNX, and an int8 dynamically quantized
copy, each re-checked against the PyTorch student before anyone relies on it.

`sage-rapids export RUN_DIR/student --out DIR` writes `model.onnx` (and
`model_quantized.onnx` with `--quantize int8`) beside the student's `config.json` and
tokenizer, the layout onnxruntime and optimum's ORT classes load. For each format it
scores the run's dev set through onnxruntime, the largest absolute logit difference
against the PyTorch student, the file's size and its latency at batch 1, and says so
loudly when a format loses more than `tolerance` points of the primary metric.
Needs the `export` extra (onnx, onnxruntime).
"""

from __future__ import annotations

import shutil
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from ..artifacts import size, write_json
from ..config import load_config
from ..data.tasks import load_split, task_metrics
from ..distillation.evaluate import scores
from ..distillation.labels import in_model_order
from ..distillation.models import load_classifier

OPSET = 17


class ExportError(RuntimeError):
    """The export cannot be made; the message says what to do."""


def onnxruntime_module():
    import importlib

    try:
        importlib.import_module("onnx")  # the exporter writes through it
        import onnxruntime
    except ImportError:
        raise ExportError("export --format onnx needs onnx and onnxruntime: pip install "
                          "'sage-rapids[export]'") from None
    return onnxruntime


def check_student(folder: Path) -> None:
    """Raises ExportError unless `folder` holds a saved classifier (config and weights)."""
    if not (folder / "config.json").is_file() or not any(folder.glob("*.safetensors")):
        raise ExportError(f"{folder}: no student here (no config.json and model.safetensors); "
                          "give the student folder of a finished run: RUN_DIR/student")


def to_onnx(model, tokenizer, path: Path) -> list[str]:
    """Export a classifier for token ids of any batch and length; returns its input names."""
    sample = tokenizer(["a first example", "and a second, longer one"], padding=True,
                       return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]
    axes = {n: {0: "batch", 1: "tokens"} for n in names}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on shapes it keeps dynamic
        torch.onnx.export(model, tuple(sample[n] for n in names), str(path),
                          input_names=names, output_names=["logits"],
                          dynamic_axes={**axes, "logits": {0: "batch"}}, opset_version=OPSET,
                          dynamo=False)
    return names


def _batches(tokenizer, ds, max_length: int, batch_size: int):
    for start in range(0, len(ds), batch_size):
        end = min(start + batch_size, len(ds))
        pairs = None if ds.pairs is None else ds.pairs[start:end]
        yield tokenizer(ds.texts[start:end], pairs, truncation=True, max_length=max_length,
                        padding=True, return_tensors="np")


def _logits(run, tokenizer, ds, max_length: int, batch_size: int) -> np.ndarray:
    return np.concatenate([run(b) for b in _batches(tokenizer, ds, max_length, batch_size)])


def _latency_ms(run, tokenizer, ds, max_length: int, n: int = 100) -> float:
    singles = list(_batches(tokenizer, ds.subset(np.arange(min(n, len(ds)))), max_length, 1))
    for batch in singles[:5]:
        run(batch)
    times = []
    for batch in singles:
        t0 = time.perf_counter()
        run(batch)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def export_student(folder: Path, out: Path, quantize: str | None = None,
                   config_path: Path | None = None, tolerance: float = 1.0,
                   log=print) -> dict:
    """Export `folder` to ONNX (and int8), re-check each format on the run's dev set.

    Args:
        folder: a student folder (`RUN_DIR/student`).
        out: where the ONNX files, config and tokenizer go.
        quantize: `int8` for a dynamically quantized copy too.
        config_path: the config whose data section has the dev set (default: the run's
            `config.yaml` beside the student).
        tolerance: points of the primary metric a format may lose before it is flagged.

    Returns:
        The report (also written to `out/export.json`): one row per format.

    Raises:
        ExportError: no student in `folder`, no config for the dev set, or no onnx.
    """
    folder, out = Path(folder), Path(out)
    check_student(folder)
    onnxruntime_module()
    config_path = Path(config_path) if config_path else folder.parent / "config.yaml"
    if not config_path.is_file():
        raise ExportError(f"{folder}: no run config at {config_path} to read the dev set "
                          "from; give one with --config")
    config = load_config(config_path)
    model, tokenizer = load_classifier(str(folder))
    regression = model.config.num_labels == 1
    dev = load_split(config.data, "dev", task_type="regression" if regression else None)
    dev, _ = in_model_order(dev, model.config.id2label, model.config.num_labels, str(folder))
    metrics = task_metrics(config.data, regression)
    rows, _ = export_formats(model, tokenizer, dev, metrics, config.data.max_length,
                             config.eval.batch_size, out, quantize,
                             (folder / "model.safetensors").stat().st_size / 1e6)
    model.config.save_pretrained(out)
    tokenizer.save_pretrained(out)
    if (folder / "README.md").is_file():  # the model card goes with the files it describes
        shutil.copyfile(folder / "README.md", out / "README.md")
    primary = metrics[0]
    for row in rows:
        row["loss_points"] = 100 * (rows[0][primary] - row[primary])
        row["within_tolerance"] = row["loss_points"] <= tolerance
    report = {"student": str(folder), "out": str(out), "primary_metric": primary,
              "dev_examples": len(dev), "tolerance_points": tolerance,
              "threads": torch.get_num_threads(), "device": "cpu", "formats": rows}
    write_json(out / "export.json", report)
    log(format_report(report))
    return report


def export_formats(model, tokenizer, dev, metrics: list[str], max_length: int,
                   batch_size: int, out: Path, quantize: str | None = None,
                   pytorch_mb: float | None = None,
                   latency: bool = True) -> tuple[list[dict], dict]:
    """`out/model.onnx` (and `model_quantized.onnx` with `quantize: int8`) of a token-id
    classifier, and each format (PyTorch first) scored on `dev` through its own runtime.

    Returns:
        (rows, runs): one row per format (its metrics, the largest logit difference
        against PyTorch, megabytes and, with `latency`, the median batch-1 latency over
        100 dev examples); `runs[format](batch)` gives the logits of a batch of token
        ids (numpy arrays; the ONNX runs take PyTorch tensors too).
    """
    ort = onnxruntime_module()
    model = model.cpu().float().eval()
    regression = model.config.num_labels == 1
    out.mkdir(parents=True, exist_ok=True)
    names = to_onnx(model, tokenizer, out / "model.onnx")
    files = {"onnx": out / "model.onnx"}
    if quantize == "int8":
        files["onnx-int8"] = quantize_int8(out / "model.onnx", out / "model_quantized.onnx")

    def torch_run(batch):
        with torch.no_grad():
            return model(**{k: torch.as_tensor(batch[k]) for k in names}).logits.numpy()

    runs = {"pytorch": torch_run, **{name: onnx_run(ort, path, names)
                                     for name, path in files.items()}}
    sizes = {"pytorch": pytorch_mb, **{k: p.stat().st_size / 1e6 for k, p in files.items()}}
    rows, reference = [], None
    for name, run in runs.items():
        logits = _logits(run, tokenizer, dev, max_length, batch_size)
        reference = logits if reference is None else reference
        preds = logits[:, 0] if regression else logits.argmax(1)
        rows.append({"format": name, **scores(preds, dev.labels, metrics),
                     "max_abs_logit_diff": float(np.abs(logits - reference).max()),
                     "mb": sizes[name]})
        if latency:
            rows[-1]["latency_ms"] = _latency_ms(run, tokenizer, dev, max_length)
    return rows, runs


def timed_formats(model, tokenizer, dev, metrics: list[str], max_length: int,
                  batch_size: int, out: Path, timed: tuple[str, ...] = ("onnx", "onnx-int8")
                  ) -> dict[str, dict]:
    """`model`'s ONNX and int8 copies in `out`, each scored on `dev` and timed as
    `efficiency.measure` times a PyTorch model (batch-1 latency, throughput at
    `batch_size`; tokenization outside the clock).

    Returns:
        {format: {metric: value, "latency_ms", "throughput", "examples", "mb"}} for the
        formats in `timed` (`onnx`, `onnx-int8`).
    """
    from .efficiency import measure_runner

    rows, runs = export_formats(model, tokenizer, dev, metrics, max_length, batch_size, out,
                                "int8", latency=False)
    return {row["format"]: {**{m: row[m] for m in metrics}, "mb": row["mb"],
                            **measure_runner(runs[row["format"]], tokenizer, dev, batch_size,
                                             max_length, e2e=False)}
            for row in rows if row["format"] in timed}


def onnx_run(ort, path: Path, names: list[str]):
    """`run(batch)` -> logits of an onnxruntime session on CPU, fed only the inputs its
    graph declares (the exporter drops one the graph never reads: DeBERTa's segment ids);
    a batch of numpy arrays or of PyTorch tensors."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    wanted = [k for k in names if k in {i.name for i in session.get_inputs()}]
    return lambda batch: session.run(None, {k: np.asarray(batch[k]).astype(np.int64)
                                            for k in wanted})[0]


def quantize_int8(source: Path, target: Path) -> Path:
    """A dynamically quantized int8 copy: weights per output channel (one scale per tensor
    cost the default student a dev point; docs/results.md), after onnxruntime's
    pre-processing (shape inference and graph optimisation), as its quantizer asks."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = target.with_name(f".{target.stem}.pre.onnx")
    try:
        quant_pre_process(str(source), str(pre), skip_symbolic_shape=True)
        quantize_dynamic(str(pre), str(target), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        pre.unlink(missing_ok=True)
    return target


def format_report(report: dict) -> str:
    primary = report["primary_metric"]
    lines = [f"{'format':<10} {primary:>10} {'max |dlogit|':>13} {'size':>9} "
             f"{'batch-1 latency':>16}"]
    for r in report["formats"]:
        lines.append(f"{r['format']:<10} {r[primary]:>10.4f} {r['max_abs_logit_diff']:>13.2e} "
                     f"{size(r['mb'] * 1e6):>9} {r['latency_ms']:>13.2f} ms")
    for r in report["formats"]:
        if not r["within_tolerance"]:
            lines.append(f"WARNING: {r['format']} loses {r['loss_points']:.2f} points of dev "
                         f"{primary} against the PyTorch student (tolerance "
                         f"{report['tolerance_points']}); check it before deploying it")
    lines.append(f"dev set: {report['dev_examples']:,} examples; CPU, "
                 f"{report['threads']} threads; wrote {report['out']}")
    return "\n".join(lines)
