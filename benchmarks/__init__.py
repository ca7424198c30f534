"""OpenHive performance suite: figures and ratios against peers measured in the same run.

Not tests: nothing here asserts on time. `make bench` (or `uv run python -m benchmarks`)
runs every suite; each module also runs on its own.
"""
