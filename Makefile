# Two entry points: `make demo` (set up, then run the main job) and `make test` (set up, then check everything).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint setup system-packages replay-tools lessons clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

setup: $(BIN)/.installed

# Debian packages the conformance tests crawl and compare against (nginx, wget, documentation).
system-packages:
	scripts/install-system-packages

# pywb, the replay tool tests/test_warc.py serves the crawl's WARC files with: a virtualenv of its
# own, since it pins a redis-py (<3) the crawler's broker cannot use.
REPLAY_VENV ?= .venv-pywb
$(REPLAY_VENV)/bin/.installed:
	$(PYTHON) -m venv $(REPLAY_VENV)
	$(REPLAY_VENV)/bin/python -m pip install --quiet 'pywb>=2.8,<3'
	touch $@

replay-tools: $(REPLAY_VENV)/bin/.installed

demo: setup
	@echo "make demo: crawler compare --scenario quick, 30 runs, about 3 minutes on 2 cores"
	$(BIN)/crawler compare --scenario quick --out compare-out

# Every lesson's measurement, into lessons/results/NAME (the pages quote the reference machine's):
# the compare scenarios, the two lessons measured by scripts, and the GIL lesson again on a
# free-threaded CPython when $(FREE_THREADED) is one (lessons/gil.md says how to make it).
FREE_THREADED ?= .venv-free-threaded/bin/python
lessons: setup
	for scenario in config/lesson-*.toml; do \
		name=$$(basename $$scenario .toml); \
		$(BIN)/crawler compare --scenario $$name --out lessons/results/$${name#lesson-} || exit 1; \
	done
	$(BIN)/python benchmarks/lesson_races.py
	$(BIN)/python benchmarks/lesson_files.py
	@if [ -x $(FREE_THREADED) ] && $(FREE_THREADED) -c 'import sys, crawler; sys.exit(sys._is_gil_enabled())' 2>/dev/null; then \
		$(FREE_THREADED) -m crawler compare --scenario lesson-gil --out lessons/results/gil-free-threaded; \
	else \
		echo "lesson gil: no free-threaded CPython with the crawler at $(FREE_THREADED): that run is skipped"; \
	fi

lint: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Test files run on as many workers as there are cores (up to 4), each file on one worker: every
# test waits for the state it asserts, so a neighbour's load slows it and never fails it.
test: lint system-packages replay-tools
	$(BIN)/pytest -n auto --maxprocesses 4 --dist loadfile

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
