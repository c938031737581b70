"""Teachers you cannot run here, measured: a file of teacher probabilities against the
teacher loaded, and two teachers mixed against each alone.

SST-2 in the embedded default's regime (the seed-0 teacher, all-MiniLM-L6-v2 fine-tuned
on 20,000 examples; students of 3 layers on the seed-0 8,000, early stopping); the student
seed (`train.seed`) varies over 0, 1, 2, so every arm learns from the same teacher and
examples. Arms:

    loaded      the default: the teacher model loaded, its logits computed in stage 1
    file        the same teacher's probabilities written to a JSONL file (the training
                rows and dev, keyed by row) and read back: `teacher.targets` (the model
                still gives the input layer and the student's layers)
    file_only   the file alone: no teacher model (`teacher.model: null`); the student is
                the pretrained MiniLM's layers 0, 2, 4 (what a user without the teacher's
                weights has), reading token ids through its own input layer
    weak        teacher B alone: the same base fine-tuned on 2,000 examples
    mix_probs   A and B, equal weights, the mean of their probabilities
    mix_logits  A and B, equal weights, the mean of their logits

Each arm's exported student is scored on SST-2 dev (872) and on a held-out slice of 5,000
training examples neither teacher saw.

    python bench/teachers.py            # bench/results/teachers.json (resumes)
    python bench/teachers.py --quick    # minutes: the machinery only
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402  (a sibling script)

RESULTS = Path(__file__).resolve().parent / "results"
SEEDS = (0, 1, 2)
WEAK = {"finetune_limit": 2000}


def held_out(config, n: int):
    """A stratified slice of SST-2 train that no teacher's subset and not the student's
    contains (each is its own seeded draw from the whole split)."""
    from sage_rapids.data.tasks import load_task, stratified_subset

    full = load_task(config.data, config.seed).full_train
    used = set()
    for size in (config.teacher.finetune_limit, WEAK["finetune_limit"], config.data.train_limit):
        used.update(stratified_subset(full.labels, size, config.seed).tolist())
    rest = np.array([i for i in range(len(full)) if i not in used])
    return full.subset(rest[stratified_subset(full.labels[rest], n, 12345)])


def write_probs(config, path: Path, backend) -> None:
    """The seed-0 teacher's probabilities for the student's training rows and for dev
    (`split: dev`), keyed by row, as a teacher run elsewhere would hand them over."""
    import torch

    from sage_rapids.data.tasks import load_task
    from sage_rapids.distillation.models import load_classifier
    from sage_rapids.distillation.teacher import finetune_source, finetune_teacher
    from sage_rapids.distillation.teachers import token_logits

    task = load_task(config.data, config.seed)
    folder = finetune_teacher(config.teacher, config.data,
                              finetune_source(config.teacher, task), backend, config.seed)
    model, tok = load_classifier(str(folder))
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as handle:
        for split, ds in (("train", task.train), ("dev", task.dev)):
            logits = token_logits(model, tok, ds, config.data.max_length, backend, 256)
            probs = torch.softmax(torch.as_tensor(logits), -1).numpy()
            for row, p in zip(ds.row_ids, probs):
                handle.write(json.dumps({"row": int(row), "split": split,
                                         "probs": [float(x) for x in p]}) + "\n")
    tmp.replace(path)


def base_student(folder: Path) -> Path:
    """The pretrained MiniLM's layers 0, 2, 4 as a named model folder."""
    if (folder / "config.json").is_file():
        return folder
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from sage_rapids.config import StudentConfig
    from sage_rapids.distillation.models import build_student, resolve_model_path

    path = resolve_model_path("minilm-l6")
    torch.manual_seed(0)  # the head the base model lacks
    base = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    student = build_student(base, StudentConfig(layers=[0, 2, 4]), 2).model
    student.save_pretrained(folder, safe_serialization=True)
    AutoTokenizer.from_pretrained(path).save_pretrained(folder)
    return folder


def arms(probs: Path, student: Path) -> dict:
    file_only = {"teacher.model": None, "teacher.finetune": False,
                 "teacher.targets": str(probs), "student.model": str(student)}
    weak = {"teacher.finetune_limit": WEAK["finetune_limit"]}
    mix = {"teacher.others": [WEAK]}
    return {"loaded": {}, "file": {"teacher.targets": str(probs)}, "file_only": file_only,
            "weak": weak, "mix_probs": {**mix, "teacher.combine": "probs"},
            "mix_logits": {**mix, "teacher.combine": "logits"}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default=None, help="comma-separated arms")
    parser.add_argument("--beside", default="nothing", help="what else ran on the machine")
    args = parser.parse_args(argv)
    import sage_rapids
    from sage_rapids.artifacts import append_jsonl, write_json
    from sage_rapids.backend import resolve_backend
    from sage_rapids.config import load_config
    from sage_rapids.distillation.evaluate import score_classifier
    from sage_rapids.progress import quiet_libraries

    quiet_libraries()
    name = "teachers_quick" if args.quick else "teachers"
    quick = {"data.train_limit": 400, "teacher.finetune_limit": 800, "train.epochs": 1,
             "eval.efficiency": False} if args.quick else {}
    base = load_config(None, quick)
    backend = resolve_backend("cpu")
    work = Path(tempfile.mkdtemp(prefix="sage-teachers-"))
    cache = Path.home() / ".cache" / "sage-rapids" / "bench"
    cache.mkdir(parents=True, exist_ok=True)
    probs = cache / f"sst2_teacher_probs{'_quick' if args.quick else ''}.jsonl"
    if not probs.is_file():
        write_probs(base, probs, backend)
    student = base_student(cache / "minilm_layers_024")
    held = held_out(base, 300 if args.quick else 5000)
    log = RESULTS / f"{name}.runs.jsonl"
    runs = [json.loads(x) for x in log.read_text().splitlines()] if log.is_file() else []
    done = {(r["arm"], r["seed"]) for r in runs}
    chosen = arms(probs, student)
    if args.only:
        chosen = {k: v for k, v in chosen.items() if k in args.only.split(",")}
    for seed in SEEDS[:1] if args.quick else SEEDS:
        for arm, extra in chosen.items():
            if (arm, seed) in done:
                continue
            t0 = time.perf_counter()
            result = sage_rapids.distill(overrides={**quick, **extra, "train.seed": seed},
                                         out=work / f"{arm}-{seed}", quiet=True)
            seconds = time.perf_counter() - t0
            s = result.summary
            heldout = score_classifier(work / f"{arm}-{seed}" / "student", held,
                                       base.data.max_length, backend)["accuracy"]
            runs.append({"arm": arm, "variant": arm, "seed": seed,
                         "dev": s["student_dev_accuracy"], "heldout": heldout,
                         "teacher_dev": s["teacher_dev_accuracy"],
                         "best_epoch": s["best_epoch"], "stopped_epoch": s["stopped_epoch"],
                         "seconds": seconds, "teachers": s.get("teachers"),
                         "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
            append_jsonl(log, runs[-1])
            print(f"{arm:<11} seed {seed}: dev {s['student_dev_accuracy']:.4f}, held-out "
                  f"{heldout:.4f}, teacher dev {s['teacher_dev_accuracy']}, {seconds:.0f} s",
                  flush=True)
    measures = {"dev": (lambda r: r["dev"], 100.0), "heldout": (lambda r: r["heldout"], 100.0)}
    pairs = {f"{a}-{b}": compare.paired_runs(runs, a, b, measures) for a, b in (
        ("file", "loaded"), ("file_only", "loaded"), ("mix_probs", "loaded"),
        ("mix_probs", "weak"), ("mix_logits", "loaded"), ("mix_logits", "weak"),
        ("mix_probs", "mix_logits"))}
    summary = {a: {"dev_mean": float(np.mean([r["dev"] for r in runs if r["arm"] == a])),
                   "heldout_mean": float(np.mean([r["heldout"] for r in runs if r["arm"] == a])),
                   "teacher_dev": next(r["teacher_dev"] for r in runs if r["arm"] == a),
                   "seconds_median": float(np.median([r["seconds"] for r in runs
                                                      if r["arm"] == a])),
                   "seeds": sorted(r["seed"] for r in runs if r["arm"] == a)}
               for a in dict.fromkeys(r["arm"] for r in runs)}
    write_json(RESULTS / f"{name}.json", {
        "date": time.strftime("%Y-%m-%d"), "command": "python bench/teachers.py",
        "beside": args.beside, "held_out": len(held), "arms": summary, "pairs": pairs,
        "runs": runs})
    for k, v in pairs.items():
        print(f"{k:<22} {compare.fmt(v, 'dev')} dev, {compare.fmt(v, 'heldout')} held-out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
