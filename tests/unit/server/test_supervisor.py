"""SupervisedGranian replaces granian's main loop and relies on some of its private
parts; a granian upgrade that moves them fails here, not in production. How a worker's
end is said in the log."""

from __future__ import annotations

import inspect

from granian.server.common import AbstractServer
from granian.server.mp import MPServer, WorkerProcess

from bizra_node.server import SupervisedGranian, describe_exit


def test_the_granian_parts_we_rely_on_are_there() -> None:
    for name in ("_serve_loop", "_respawn_workers", "_reload", "_init_shared_socket",
                 "startup"):
        assert callable(getattr(MPServer, name, None)), name
    server = MPServer("x:y")
    for name in ("wrks", "interrupt_children", "main_loop_interrupt", "interrupt_signal",
                 "reload_signal", "respawned_wrks", "bind_addr", "bind_port", "workers"):
        assert hasattr(server, name), name
    assert "birth" in inspect.getsource(WorkerProcess.__mro__[1].__init__)
    # the loop we replace is the one with the crash-loop exit
    assert "crash loop" in inspect.getsource(AbstractServer._serve_loop)
    assert SupervisedGranian._serve_loop is not AbstractServer._serve_loop


def test_exits_in_words() -> None:
    assert describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(-11) == "killed by SIGSEGV"
    assert describe_exit(1) == "exit code 1"
    assert describe_exit(None) == "exit status unknown"
