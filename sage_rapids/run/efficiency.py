"""What the student buys: the teacher and the student measured as deployed (token ids in,
logits out, on the run's device and threads), after the last epoch.

Speed does not depend on the weights, so the student measured is the exportable copy of
the one in memory (the architecture the export holds). Latency is timed at batch 1 over
dev examples after a warm-up (median and p95); throughput at the evaluation batch size
over several passes (median, and the spread), the examples batched by length as a server
that buckets requests would; both again with tokenization inside the clock. These are measurements on a shared machine: they go into `summary.json` with their
spread, never into a test's assertion.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch
from torch import nn

from ..backend import Backend
from ..data.text_dataset import TextDataset

WARM_UP, LATENCY_EXAMPLES, PASSES, THROUGHPUT_EXAMPLES = 5, 100, 3, 256


def parameters(model: nn.Module) -> dict[str, int]:
    """Parameters split into the embeddings (word, position, segment tables) and the rest."""
    embeddings = sum(p.numel() for name, p in model.named_parameters() if "embeddings" in name)
    total = sum(p.numel() for p in model.parameters())
    return {"embeddings": embeddings, "rest": total - embeddings, "total": total}


def _encode(tokenizer, ds: TextDataset, index: np.ndarray, max_length: int) -> dict:
    texts = [ds.texts[i] for i in index]
    pairs = None if ds.pairs is None else [ds.pairs[i] for i in index]
    return tokenizer(texts, pairs, truncation=True, max_length=max_length, padding=True,
                     return_tensors="pt")


@torch.no_grad()
def measure(model: nn.Module, tokenizer, ds: TextDataset, batch_size: int, max_length: int,
            backend: Backend) -> dict:
    """Latency at batch 1 and throughput at `batch_size`, with and without tokenization.

    Returns:
        {"latency_ms": {median, p95}, "latency_e2e_ms": {...}, "throughput": {median, min,
        max} examples/s, "throughput_e2e": {...}, "examples": {"latency": n, "throughput": n},
        "parameters": {...}}.
    """
    model = model.to(backend.device).eval()

    def run(batch: dict) -> None:
        model(**{k: v.to(backend.device) for k, v in batch.items()})

    return {**measure_runner(run, tokenizer, ds, batch_size, max_length, backend.synchronize),
            "parameters": parameters(model)}


def measure_runner(run, tokenizer, ds: TextDataset, batch_size: int, max_length: int,
                   synchronize=lambda: None, e2e: bool = True) -> dict:
    """`measure` for any `run(batch)` of tokenizer output (PyTorch tensors): a PyTorch
    model's forward, or an onnxruntime session's (`onnx_run`); without `e2e`, the
    figures with tokenization inside the clock are left out."""
    n1 = min(LATENCY_EXAMPLES, len(ds))
    nb = min(THROUGHPUT_EXAMPLES, len(ds))

    def clock(fn) -> float:
        synchronize()
        t0 = time.perf_counter()
        fn()
        synchronize()
        return time.perf_counter() - t0

    singles = [_encode(tokenizer, ds, np.array([i]), max_length) for i in range(n1)]
    for batch in singles[:WARM_UP]:
        run(batch)
    latency = [clock(lambda b=b: run(b)) for b in singles]
    latency_e2e = [clock(lambda i=i: run(_encode(tokenizer, ds, np.array([i]), max_length)))
                   for i in range(n1)] if e2e else None
    # batches of like length, as a server that buckets requests (and `evaluate`) runs them
    order = np.argsort([len(t) + len(ds.pairs[i] if ds.pairs else "")
                        for i, t in enumerate(ds.texts[:nb])], kind="stable")
    groups = [order[s:s + batch_size] for s in range(0, nb, batch_size)]
    batches = [_encode(tokenizer, ds, g, max_length) for g in groups]
    run(batches[-1])  # warm-up at this batch size
    passes = [nb / clock(lambda: [run(b) for b in batches]) for _ in range(PASSES)]
    out = {"latency_ms": _spread(latency, 1e3), "throughput": _range(passes),
           "examples": {"latency": n1, "throughput": nb, "batch_size": batch_size}}
    if e2e:
        passes_e2e = [nb / clock(lambda: [run(_encode(tokenizer, ds, g, max_length))
                                          for g in groups]) for _ in range(PASSES)]
        out.update(latency_e2e_ms=_spread(latency_e2e, 1e3), throughput_e2e=_range(passes_e2e))
    return out


def _spread(seconds: list[float], scale: float) -> dict:
    return {"median": statistics.median(seconds) * scale,
            "p95": float(np.percentile(seconds, 95)) * scale}


def _range(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def weights_mb(folder) -> float | None:
    """Megabytes of a model folder's weight files (safetensors or bin), None if none."""
    from pathlib import Path

    files = [p for pattern in ("*.safetensors", "*.bin") for p in Path(folder).glob(pattern)]
    return sum(p.stat().st_size for p in files) / 1e6 if files else None


def compare(teacher: dict, student: dict) -> dict:
    """The student's speed-ups over the teacher, from the medians."""
    return {"speedup_batch": student["throughput"]["median"] / teacher["throughput"]["median"],
            "speedup_batch1": teacher["latency_ms"]["median"] / student["latency_ms"]["median"],
            "speedup_batch_e2e": (student["throughput_e2e"]["median"]
                                  / teacher["throughput_e2e"]["median"])}


def compare_int8(teacher_int8: dict, student: dict) -> dict:
    """The student's speed-ups over the teacher's int8 ONNX copy, from the medians."""
    return {"speedup_batch_int8": (student["throughput"]["median"]
                                   / teacher_int8["throughput"]["median"]),
            "speedup_batch1_int8": (teacher_int8["latency_ms"]["median"]
                                    / student["latency_ms"]["median"])}


def headline(summary: dict) -> str:
    """`student 0.860 dev accuracy (98.0% of the teacher), 1.9x faster at batch 32, 1.8x at
    batch 1, 66.2 MB against 87.3 MB`, on the dev metric that picked the best epoch
    (`dev_matched accuracy` where there are several dev sets)."""
    e = summary["efficiency"]
    key = summary.get("selected_by") or f"dev_{summary['primary_metric']}"
    ours, theirs = summary[f"student_{key}"], summary[f"teacher_{key}"]
    dev_set, _, metric = key.rpartition("_")
    share = f" ({ours / theirs:.1%} of the teacher)" if theirs else ""
    score = f"student {ours:.3f} {dev_set} {metric}{share}"
    if e.get("teacher") is None:  # no teacher model here to compare with
        s = e["student"]
        return (f"{score}, {s['throughput']['median']:.0f} "
                f"examples/s at batch {s['examples']['batch_size']}, "
                f"{s['latency_ms']['median']:.1f} ms at batch 1"
                + (f", {e['student_mb']:.1f} MB" if e.get("student_mb") else ""))
    size = ""
    if e.get("student_mb") and e.get("teacher_mb"):
        size = f", {e['student_mb']:.1f} MB against {e['teacher_mb']:.1f} MB"
    int8 = ""
    if e.get("baselines"):  # the teacher quantized: what a deployer tries first
        q = e["baselines"]["teacher_int8"]
        metric_q = q.get(metric)
        int8 = (f"; against the int8 teacher" + (f" ({metric_q:.3f})" if metric_q is not None
                                                  else "")
                + f" {e['speedup_batch_int8']:.1f}x at batch "
                f"{e['student']['examples']['batch_size']}, {e['speedup_batch1_int8']:.1f}x "
                f"at batch 1, {q['mb']:.1f} MB")
    return (f"{score}, {e['speedup_batch']:.1f}x faster at batch "
            f"{e['student']['examples']['batch_size']}, {e['speedup_batch1']:.1f}x at batch 1"
            f"{size}{int8}")
