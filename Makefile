# The two commands a new user needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test,demo,distributed,tvm]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

test: $(STAMP)
	$(PY) -m pytest -p no:cacheprovider tests; rc=$$?; [ $$rc -eq 5 ] && exit 0 || exit $$rc

bench: $(STAMP)
	$(PY) bench/predict.py

clean:
	rm -rf $(VENV) demo_out
