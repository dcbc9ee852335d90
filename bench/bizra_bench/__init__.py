"""BIZRA-NODE0's benchmark harness (the `bizra-node-bench` distribution in bench/).

`bizra-node bench <scenario>` finds it through the ``bizra_node.plugins`` entry point
``bench`` (``bizra_bench.runner:run_bench``); each scenario is a module of
``bizra_bench.scenarios`` with ``run(argv) -> int``.
"""
