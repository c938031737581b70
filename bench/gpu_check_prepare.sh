#!/usr/bin/env bash
# Run here, once, before bench/gpu_check.sh: gathers into .carry/ (git-ignored, under
# the 64 MiB a device call may carry) what the GPU machine lacks.
#   .carry/whl/     umap-learn and pynndescent wheels for its Python 3.12
#   .carry/data/    glue/sst2/{train,dev}.tsv from $SAGE_DATA_DIR
#   .carry/minilm/  all-MiniLM-L6-v2 in float16 (the real default config's teacher)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${SAGE_DATA_DIR:?set SAGE_DATA_DIR to the folder holding glue/sst2}"
rm -rf .carry && mkdir -p .carry/whl .carry/data/glue/sst2
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux2014_x86_64 -d .carry/whl \
  umap-learn==0.5.12 pynndescent==0.7.0
cp "$SAGE_DATA_DIR"/glue/sst2/{train,dev}.tsv .carry/data/glue/sst2/
.venv/bin/python - <<'PY'
from sage_rapids.distillation.models import load_classifier
model, tokenizer = load_classifier("minilm-l6", num_labels=2)
model.half().save_pretrained(".carry/minilm", safe_serialization=True)
tokenizer.save_pretrained(".carry/minilm")
PY
du -sh .carry
