# One command runs the product, one passes every test; both install what they need.
SHELL := /bin/bash
# uv from PATH, else installed with pip and run as a module.
UV := $(shell command -v uv 2>/dev/null || (python3 -m pip install --quiet uv >&2 && echo "python3 -m uv"))
export UV_LINK_MODE ?= copy

.PHONY: dev test lint typecheck bench setup tools test-tools web images clean

setup:
	@$(UV) sync --frozen --all-packages

tools: setup
	@bash scripts/install-tools.sh

# The dashboard's standalone build, rebuilt only when web/ changed.
web: tools
	@bash scripts/build-web.sh

# Also podman, debootstrap and the local Kubernetes control plane (only the tests need them).
test-tools: web
	@UV="$(UV)" bash scripts/install-tools.sh --test

# The role images, built with podman (infra/README.md).
images: setup
	@bash scripts/install-tools.sh --containers
	@bash scripts/images.sh

dev: web
	$(UV) run hive dev

test: test-tools
	$(UV) run pytest $(PYTEST_ARGS)

lint: setup
	$(UV) run ruff check .
	$(UV) run ruff format --check .

typecheck: setup
	$(UV) run mypy

bench: tools
	$(UV) run python -m benchmarks

clean:
	rm -rf .hive .tools .venv
