"""Benchmark scenarios: each module has ``run(argv: list[str]) -> int`` and writes its
results (JSON + Markdown) under bench/results/ through ``bizra_bench.results``."""
