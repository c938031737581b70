#!/usr/bin/env bash
# Every check that needs a GPU, as one device call of at most 5 minutes on an H200
# (about a minute to spare for a rerun in a 15-minute lease). Prepare .carry/ first
# (bench/gpu_check_prepare.sh) and carry it. Writes $OUT/gpu_check.log, the
# benchmark's gpu_<device>.json and gpu_check.json (every figure below).
#   1. install the project (no dependencies) and the carried wheels
#   2. the `gpu`-marked tests (every backend-parametrised stage test on CUDA)
#   3. bench/gpu_bench.py: BERT-base-sized teacher, 6-layer student, 50,000 x 64
#   4. the real SST-2 default config in fp32 and bf16: epoch seconds, dev accuracy
#   5. kill -9 during epoch 2, then --resume on CUDA: must end as the fp32 run did
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu_check_out}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu_check.log") 2>&1
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 SAGE_DATA_DIR=$PWD/.carry/data \
  SAGE_CACHE_DIR=/tmp/sage-cache
step() { echo; echo "== $1 ($(date +%T))"; }

step "install"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .carry/whl/*.whl
export PYTHONPATH=/tmp/site
python3 -m pip install -q --no-deps --no-build-isolation -e . || exit 1
python3 - <<'PY' || exit 1
from sage_rapids.distillation.models import load_classifier
model, tokenizer = load_classifier(".carry/minilm")
model.float().save_pretrained("/tmp/minilm", safe_serialization=True)  # carried in fp16
tokenizer.save_pretrained("/tmp/minilm")
PY
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

step "gpu tests"
timeout 100 python3 -m pytest -q -m gpu -p no:cacheprovider tests | tee "$OUT/gpu_tests.txt"

step "benchmark at BERT-base scale"
timeout 150 python3 bench/gpu_bench.py --device cuda --out "$OUT"

RUN=(sage-rapids run --device cuda -o teacher.model=/tmp/minilm -o augment.plots=false --quiet
     -o augment.strategy=sage -o train.epochs=3 -o train.early_stopping=null)
step "real default config with SAGE on, fp32 and bf16"
for p in fp32 bf16; do
  timeout 60 "${RUN[@]}" -o train.precision=$p --out /tmp/run_$p
done

step "kill -9 during epoch 2, then --resume on CUDA"
"${RUN[@]}" -o train.precision=fp32 --out /tmp/killed &
pid=$!
until [ -f /tmp/killed/checkpoint/meta.json ] || ! kill -0 $pid 2>/dev/null; do sleep 0.2; done
sleep 1; kill -9 $pid; wait $pid 2>/dev/null
timeout 45 sage-rapids run --resume /tmp/killed --quiet

step "figures"
python3 - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
rows = lambda run: [json.loads(x) for x in (Path(run) / "metrics.jsonl").read_text().splitlines()]
keep = ("epoch", "dev_accuracy", "train_loss", "n_synthetic")
figures = {}
for p in ("fp32", "bf16"):
    run = Path(f"/tmp/run_{p}")
    if (run / "summary.json").is_file():
        s = json.loads((run / "summary.json").read_text())
        prof = json.loads((run / "profile.json").read_text())
        figures[p] = {"student_dev_accuracy": s["student_dev_accuracy"],
                      "teacher_dev_accuracy": s["teacher_dev_accuracy"],
                      "epoch_seconds": [r["seconds"] for r in rows(run)],
                      "augmentation_overhead": prof.get("augmentation_overhead"),
                      "labelling_overhead": prof.get("labelling_overhead"),
                      "implementations": s["implementations"]}
killed = Path("/tmp/killed")
if (killed / "summary.json").is_file() and "fp32" in figures:
    same = [{k: r[k] for k in keep} for r in rows(killed)] == \
           [{k: r[k] for k in keep} for r in rows("/tmp/run_fp32")]
    figures["resume_matches_uninterrupted"] = same
if "fp32" in figures and "bf16" in figures:
    f, b = figures["fp32"], figures["bf16"]
    figures["bf16_epoch_speedup"] = sorted(f["epoch_seconds"])[1] / sorted(b["epoch_seconds"])[1]
    figures["bf16_accuracy_points"] = 100 * (b["student_dev_accuracy"] - f["student_dev_accuracy"])
(out / "gpu_check.json").write_text(json.dumps(figures, indent=2))
print(json.dumps(figures, indent=2))
PY
