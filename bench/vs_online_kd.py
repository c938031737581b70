"""Vector-space distillation with cached teacher logits against online KD.

Online KD is the ordinary way: token ids in, the teacher runs forward on every batch
of every epoch, the student trains on its logits. Ours computes the teacher's logits
once and trains on `E_T[x]`. Both train the same student (same initial weights, same
loss, batch size and length-bucketed batches) for the same epochs, alternating epoch by epoch in
one process so the machine's state is shared. Reported: the median epoch-time ratio,
its ideal `1 + teacher forward / student step` (both measured inside the online
epochs), dev accuracy per epoch, and a whole SAGE run against the same epochs of
online KD.

    python bench/vs_online_kd.py             # 8k SST-2, 3 epochs, MiniLM-L6 teacher, 3-layer student
    python bench/vs_online_kd.py --quick     # a minute
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from sage_rapids import artifacts
from sage_rapids.backend import resolve_backend
from sage_rapids.config import load_config
from sage_rapids.context import Context
from sage_rapids.distillation.losses import per_sample_loss
from sage_rapids.distillation.models import build_student, count_parameters
from sage_rapids.progress import quiet_libraries
from sage_rapids.run import pipeline
from sage_rapids.run.pipeline import evaluate_epoch
from sage_rapids.run.preparation import prepare
from sage_rapids.seeds import seed_torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measured_default import SAGE_DEFAULT  # noqa: E402  (a sibling script)

from sage_rapids.distillation.table import Examples, bucketed_batches, empty_pool, token_batch
from sage_rapids.distillation.train import Training, make_optimizer, planned_steps, train_epoch


def online_kd_epoch(student, teacher, table, batches, optimizer, scheduler, config,
                    backend) -> dict:
    """One epoch of ordinary online KD; returns seconds split into teacher and student."""
    labels_all = backend.to_torch(table.labels)
    teacher_s = student_s = 0.0
    student.train()
    for index in batches:
        tokens = token_batch(table, index, backend)  # (B, L) ids and mask
        t0 = time.perf_counter()
        with torch.no_grad():
            z_t = teacher(**tokens).logits  # the online cost
        backend.synchronize()
        t1 = time.perf_counter()
        z_s = student.model(**tokens).logits
        labels = labels_all[torch.as_tensor(index, device=backend.device)]
        loss = per_sample_loss(z_s, z_t, labels, config.loss.temperature,
                               config.loss.alpha).total.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), config.train.max_grad_norm)
        optimizer.step()
        scheduler.step()
        backend.synchronize()
        teacher_s += t1 - t0
        student_s += time.perf_counter() - t1
    return {"seconds": teacher_s + student_s, "teacher_seconds": teacher_s,
            "student_seconds": student_s}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--config", default=None)
    parser.add_argument("-o", "--override", dest="overrides", action="append", default=[])
    parser.add_argument("--out", default="bench/results")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--name", default=None, help="result file stem")
    parser.add_argument("--no-sage-run", action="store_true",
                        help="leave out the whole SAGE run timed after the epochs")
    args = parser.parse_args(argv)
    quiet_libraries()
    quick_overrides = ["data.train_limit=400", "teacher.finetune=false", "train.epochs=2",
                       "data.dev_limit=200"] if args.quick else []
    config = load_config(args.config, SAGE_DEFAULT + quick_overrides + args.overrides)
    config = replace(config, augment=replace(config.augment, plots=False))
    backend = resolve_backend(args.device)
    seed_torch(config.seed, "student_init")
    ctx = Context(backend)
    s = prepare(config, ctx, print)
    E = config.train.epochs
    init = build_student(s.teacher, config.student, len(s.task.train.label_names))
    students = {"vector": copy.deepcopy(init), "online": copy.deepcopy(init)}
    steps = planned_steps(len(s.train), [0] * E, config.train.batch_size)
    optim = {k: make_optimizer(m, config.train, steps) for k, m in students.items()}
    rows = []
    for epoch in range(1, E + 1):
        # the same batches for both: one rng per epoch, copied
        rng = np.random.default_rng(1000 + epoch)
        batches = bucketed_batches(s.train.host_lengths, config.train.batch_size,
                                   config.train.bucket_batches, copy.deepcopy(rng))
        t0 = time.perf_counter()
        t = Training(students["vector"], students["vector"], *optim["vector"],
                     {"batches": copy.deepcopy(rng)})
        train_epoch(t, Examples(s.train, empty_pool(backend), s.embeddings), config.loss,
                    config.train, ctx, epoch)
        backend.synchronize()
        vector_s = time.perf_counter() - t0
        online = online_kd_epoch(students["online"], s.teacher, s.train, batches,
                                 *optim["online"], config, backend)
        rows.append({"epoch": epoch, "vector_seconds": vector_s, **{f"online_{k}": v for k, v in
                                                                   online.items()},
                     "vector_dev_accuracy": evaluate_epoch(students["vector"], s, config,
                                                           ctx)["dev_accuracy"],
                     "online_dev_accuracy": evaluate_epoch(students["online"], s, config,
                                                           ctx)["dev_accuracy"]})
        print(f"epoch {epoch}: vector {vector_s:.1f} s, online {online['seconds']:.1f} s "
              f"(teacher {online['teacher_seconds']:.1f} s), dev {rows[-1]['vector_dev_accuracy']:.4f}"
              f" / {rows[-1]['online_dev_accuracy']:.4f}", flush=True)
    med = lambda key: statistics.median(r[key] for r in rows)  # noqa: E731
    ratio = med("online_seconds") / med("vector_seconds")
    ideal = 1 + med("online_teacher_seconds") / med("online_student_seconds")
    result = {
        "date": time.strftime("%Y-%m-%d"), "backend": backend.name,
        "threads": torch.get_num_threads(), "train_examples": len(s.train), "epochs": E,
        "teacher_layers": s.teacher.config.num_hidden_layers,
        "student_layers": init.model.config.num_hidden_layers,
        "teacher_parameters": count_parameters(s.teacher),
        "student_parameters": count_parameters(init),
        "epochs_detail": rows, "median_ratio": ratio, "ideal_ratio": ideal,
        "ratio_of_ideal": ratio / ideal, "overrides": args.overrides,
    }
    print(f"\nvector-space epoch vs online KD ({len(s.train):,} examples, teacher "
          f"{result['teacher_layers']} layers, student {result['student_layers']} layers, "
          f"{backend.name}, median of {E} epochs)")
    print(f"  online / vector epoch time : {ratio:.2f}x")
    print(f"  ideal 1 + teacher/student  : {ideal:.2f}x   (achieved {ratio / ideal:.1%} of ideal)")
    print(f"  dev accuracy after {E} epochs: vector {rows[-1]['vector_dev_accuracy']:.4f}, "
          f"online {rows[-1]['online_dev_accuracy']:.4f}")
    if not args.no_sage_run:
        result.update(whole_sage_run(config, backend, rows))
    out = Path(args.out)
    name = args.name or ("vs_online_kd_quick" if args.quick else "vs_online_kd")
    artifacts.write_json(out / f"{name}.json", result)
    print(f"wrote {out / (name + '.json')}")
    return 0


def whole_sage_run(config, backend, rows: list[dict]) -> dict:
    """A whole SAGE run (targets once, epochs, rounds, labelling) against the same
    epochs of online KD."""
    E = config.train.epochs
    with tempfile.TemporaryDirectory() as tmp:
        sage_cfg = replace(config, augment=replace(config.augment, strategy="sage"))
        summary = pipeline.run(sage_cfg, backend, Path(tmp) / "run", quiet=True,
                               log=lambda m: None)
        prof = json.loads((Path(tmp) / "run" / "profile.json").read_text())["total"]
    sage_seconds = sum(prof.get(k, 0.0) for k in ("teacher_targets", "train", "reduce",
                                                  "anchors", "neighbours", "synthesize",
                                                  "label"))
    online_total = sum(r["online_seconds"] for r in rows)
    print(f"  whole SAGE run ({E} epochs, targets + rounds + labelling): {sage_seconds:.1f} s; "
          f"online KD {E} epochs: {online_total:.1f} s ({online_total / sage_seconds:.2f}x)")
    return {"sage_run_seconds": sage_seconds, "sage_run_stage_seconds": prof,
            "sage_student_dev_accuracy": summary["student_dev_accuracy"],
            "online_run_seconds": online_total, "online_over_sage": online_total / sage_seconds}


if __name__ == "__main__":
    sys.exit(main())
