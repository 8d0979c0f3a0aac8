# The two commands of the README. Both create/refresh .venv from pyproject.toml first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test setup browser clean bench samples

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

# Debian's chromium for the browser tests (playwright never downloads a browser here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "chromium could not be installed: browser tests will skip with a reason"; \
	  else echo "chromium is not installed and this user cannot apt-get: browser tests will skip with a reason"; fi; }

run: $(STAMP)
	$(BIN)/pogoscope inspect-samples sample_images

# two test processes, a test file each at a time (its module and session fixtures are built once); the
# tests share nothing but the machine's services, each under a name of its own (schema, queue, topic, port)
test: $(STAMP) browser
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# regenerate the bundled sample boards (the commands are listed in sample_images/README.md)
samples: $(STAMP)
	sed -n 's/^pogoscope generate /generate /p' sample_images/README.md | while read -r line; do rm -rf "$$(echo $$line | cut -d' ' -f2)"; $(BIN)/pogoscope $$line || exit 1; done

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache
