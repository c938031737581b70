"""The GPU figures the design promises, at BERT-base scale, on random tokens.

A BERT-base-sized teacher (12 x 768, built from a config: random weights time like
trained ones) and a 6-layer student (its even layers) on N examples of L random
tokens. Per precision (fp32, bf16): the teacher's targets, one vector-space epoch,
one online-KD epoch on the same batches (its teacher / student split gives the ideal
speed-up `1 + teacher forward / student step`), then one SAGE round at N/4, N/2 and
N by stage: the round's cost against N, `augmentation_overhead` and
`labelling_overhead` against the epoch. Peak GPU memory, examples per second.

    python bench/gpu_bench.py --device cuda          # 50,000 x 64, the targets' scale
    python bench/gpu_bench.py --quick                # seconds: tiny models, any device
"""

from __future__ import annotations

import argparse
import copy
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from transformers import BertConfig, BertForSequenceClassification

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vs_online_kd import online_kd_epoch  # noqa: E402

from sage_rapids import artifacts  # noqa: E402
from sage_rapids.backend import resolve_backend  # noqa: E402
from sage_rapids.config import AugmentConfig, Config, StudentConfig, TrainConfig  # noqa: E402
from sage_rapids.context import Context  # noqa: E402
from sage_rapids.distillation.models import build_student, count_parameters, input_embeddings  # noqa: E402
from sage_rapids.distillation.table import Examples, bucketed_batches, empty_pool, ragged_table  # noqa: E402
from sage_rapids.distillation.targets import Labelling, teacher_targets  # noqa: E402
from sage_rapids.distillation.train import Training, make_optimizer, planned_steps, train_epoch  # noqa: E402
from sage_rapids.profiling import AUGMENT_STAGES, Profiler  # noqa: E402
from sage_rapids.progress import quiet_libraries  # noqa: E402
from sage_rapids.sage.augment import augment_round  # noqa: E402
from sage_rapids.seeds import seed_torch  # noqa: E402

SIZES = {"full": dict(examples=50000, length=64, layers=12, hidden=768, heads=12),
         "quick": dict(examples=400, length=16, layers=4, hidden=64, heads=4)}


def random_table(n: int, length: int, vocab: int, backend, seed: int = 0):
    """n examples of `length` random tokens, random binary labels."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1000, vocab, size=n * length).astype(np.int32)
    return ragged_table(ids, np.full(n, length, np.int32), None,
                        rng.integers(0, 2, size=n), backend)


def timed(backend, fn):
    backend.synchronize()
    t0 = time.perf_counter()
    out = fn()
    backend.synchronize()
    return out, time.perf_counter() - t0


def one_precision(teacher, table, backend, config: Config, precision: str) -> dict:
    """Targets, a vector epoch, an online epoch and rounds at three sizes, at `precision`."""
    config = replace(config, train=replace(config.train, precision=precision))
    E = input_embeddings(teacher).detach()
    targets, t_targets = timed(backend, lambda: teacher_targets(
        teacher, table, E, backend, 512, precision=precision))
    table = table.with_targets(targets.logits)
    seed_torch(0, "student_init")
    init = build_student(teacher, config.student, 2).to(backend.device)
    students = {"vector": copy.deepcopy(init), "online": copy.deepcopy(init)}
    steps = planned_steps(len(table), [0], config.train.batch_size)
    optim = {k: make_optimizer(m, config.train, steps) for k, m in students.items()}
    rng = np.random.default_rng(1)
    t = Training(students["vector"], students["vector"], *optim["vector"],
                 {"batches": copy.deepcopy(rng)})
    result, t_vector = timed(backend, lambda: train_epoch(
        t, Examples(table, empty_pool(backend), E), config.loss, config.train, Context(backend)))
    batches = bucketed_batches(table.host_lengths, config.train.batch_size,
                               config.train.bucket_batches, copy.deepcopy(rng))
    with backend.autocast(precision):
        online = online_kd_epoch(students["online"], teacher, table, batches,
                                 *optim["online"], config, backend)
    sizes = (len(table) // 4, len(table) // 4, len(table) // 2, len(table))
    rounds = [round_cost(teacher, table, result.profile, E, config, backend, n, t_vector)
              for n in sizes][1:]  # the first warms up (kernel compilation, caches)
    return {"precision": precision, "teacher_targets_seconds": t_targets,
            "vector_epoch_seconds": t_vector, "online_epoch_seconds": online["seconds"],
            "online_teacher_seconds": online["teacher_seconds"],
            "online_student_seconds": online["student_seconds"],
            "online_over_vector": online["seconds"] / t_vector,
            "ideal_ratio": 1 + online["teacher_seconds"] / online["student_seconds"],
            "examples_per_second": len(table) / t_vector, "rounds": rounds}


def round_cost(teacher, table, profile, E, config, backend, n: int, epoch_seconds: float):
    """One round on the first n examples, by stage."""
    part = table
    if n < len(table):
        end = int(backend.to_host(table.offsets[n]))
        part = ragged_table(backend.to_host(table.ids[:end]), table.host_lengths[:n], None,
                            backend.to_host(table.labels[:n]), backend
                            ).with_targets(table.teacher_logits[:n])
        profile = type(profile)(profile.kd_loss[:n], profile.total_loss[:n],
                                profile.embeddings[:n])
    profiler = Profiler(backend.synchronize)
    augment_round(teacher, Examples(part, empty_pool(backend), E), profile,
                  replace(config.augment, plots=False), Context(backend, profiler),
                  np.random.default_rng(0), labelling=Labelling(config.train.precision))
    total = profiler.report()["total"]
    scaled = epoch_seconds * n / len(table)  # the epoch on these n examples
    round_s = sum(total.get(s, 0.0) for s in AUGMENT_STAGES)
    return {"n": n, "stage_seconds": total, "round_seconds": round_s,
            "augmentation_overhead": round_s / scaled,
            "labelling_overhead": total.get("label", 0.0) / scaled}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--examples", type=int, default=None)
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args(argv)
    quiet_libraries()
    size = dict(SIZES["quick" if args.quick else "full"])
    size["examples"] = args.examples or size["examples"]
    backend = resolve_backend(args.device)
    seed_torch(0, "teacher_init")
    teacher = BertForSequenceClassification(BertConfig(
        hidden_size=size["hidden"], num_hidden_layers=size["layers"],
        num_attention_heads=size["heads"], intermediate_size=4 * size["hidden"],
        num_labels=2)).eval().to(backend.device).requires_grad_(False)
    table = random_table(size["examples"], size["length"], teacher.config.vocab_size, backend)
    config = Config(student=StudentConfig(layers=list(range(0, size["layers"], 2))),
                    train=TrainConfig(batch_size=128 if not args.quick else 32),
                    augment=AugmentConfig(strategy="sage", space="input",
                                          umap_fit_max=5000 if not args.quick else 300,
                                          umap_epochs=100, ratio=0.2, plots=False))
    if backend.is_cuda:
        torch.cuda.reset_peak_memory_stats(backend.device)
    runs = [one_precision(teacher, table, backend, config, p) for p in ("fp32", "bf16")]
    device = torch.cuda.get_device_name(backend.device) if backend.is_cuda else platform.processor()
    result = {"date": time.strftime("%Y-%m-%d"), "device": device or backend.name,
              "backend": backend.name, "implementations": backend.implementations, **size,
              "teacher_parameters": count_parameters(teacher), "runs": runs,
              "bf16_speedup": runs[0]["vector_epoch_seconds"] / runs[1]["vector_epoch_seconds"],
              "peak_gpu_memory_gib": (torch.cuda.max_memory_allocated(backend.device) / 2**30
                                      if backend.is_cuda else None)}
    print(f"{size['examples']:,} x {size['length']} tokens, teacher {size['layers']} x "
          f"{size['hidden']}, {result['device']}")
    for r in runs:
        print(f"{r['precision']}: epoch {r['vector_epoch_seconds']:.1f} s vector, "
              f"{r['online_epoch_seconds']:.1f} s online ({r['online_over_vector']:.2f}x, ideal "
              f"{r['ideal_ratio']:.2f}x), {r['examples_per_second']:,.0f} examples/s")
        for row in r["rounds"]:
            print(f"   round at N={row['n']:,}: {row['round_seconds']:.2f} s, augmentation "
                  f"overhead {row['augmentation_overhead']:.1%}, labelling "
                  f"{row['labelling_overhead']:.1%}")
    print(f"bf16 over fp32 per epoch: {result['bf16_speedup']:.2f}x")
    name = "gpu_bench_quick" if args.quick else f"gpu_{device.split()[-1].lower()}"
    artifacts.write_json(Path(args.out) / f"{name}.json", result)
    print(f"wrote {Path(args.out) / (name + '.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
