"""The `bizra-node` command: serve · devnet · migrate · keys · pgbouncer-config · bench ·
settings · cluster · beacon."""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, cast

from .settings import Settings, SettingsError, describe_settings

if TYPE_CHECKING:
    from .app.config_file import Networks

CONFIG_ENV = "BIZRA_CONFIG"
"""The configuration file's variable (bizra_node.app.config_file.CONFIG_ENV)."""

__all__ = ["main"]

SEED_FILE = Path(".devnet/seed.json")
RESPAWN_INTERVAL = 1.0
"""Seconds a SIGHUP reload keeps an old worker beside its replacement (granian's default
is 3.5); a worker that died is replaced by :class:`bizra_node.server.SupervisedGranian`'s
own schedule, not after this."""
DEVNET_PORT_FLAG = "pass --devnet-port PORT, or set BIZRA_NODE_URL to a running node"
HTTP_PORT_FLAG = "set BIZRA_PORT or pass --port"
GRANIAN_MALLOC_CONF = "dirty_decay_ms:0,muzzy_decay_ms:0"
"""jemalloc options of granian's own allocator (its wheels link jemalloc, read from
``_RJEM_MALLOC_CONF``; one the operator set wins). jemalloc keeps freed pages for
``dirty_decay_ms`` (10 s) and returns them only when later allocations tick its
clock, so an idle worker kept what its closed WebSockets had used: 2 000 sockets
took a worker from ~90 to ~245 MiB and it stayed at ~220 MiB after they closed (each
socket holds tungstenite's 128 KiB read buffer). With 0 the pages go back as they are
freed: ~100 MiB after they closed. The cost on the hit path, measured with strace:
~0.04 mmap/munmap calls a request (0.01 with jemalloc's default)."""


class DevnetFailed(RuntimeError):
    """anvil did not start (for another reason than its port); ``str()`` is one line."""


def _start_devnet(port: int, node: str | None = None, *,
                  port_flag: str = DEVNET_PORT_FLAG) -> object:
    """Start anvil, seed it and write the manifest; return the Anvil handle. ``node``:
    the address the node will serve on, for the line to try (none for `devnet` alone:
    then anvil itself is the address)."""
    from .devnet import Anvil, seed

    anvil = Anvil(port)
    try:
        anvil.start()
    except (RuntimeError, TimeoutError) as exc:  # the port taken since the check, or else
        from .server import check_port

        check_port("127.0.0.1", port, what="the devnet (anvil)", change=port_flag)
        reason = " ".join(str(exc).split())  # anvil's stderr, on one line
        raise DevnetFailed(f"bizra-node: the devnet (anvil) did not start: {reason}") from None
    manifest = seed(anvil.url)
    SEED_FILE.parent.mkdir(parents=True, exist_ok=True)
    SEED_FILE.write_text(manifest.to_json())
    print(f"devnet: anvil at {anvil.url}, head {manifest.head}; seed data in {SEED_FILE}",
          file=sys.stderr)
    if node is not None:
        print(f"  try: curl -s {node}/api/v1/transactions/{manifest.eip1559_tx}",
              file=sys.stderr)
    else:
        call = ('{"jsonrpc":"2.0","id":1,"method":"eth_getTransactionByHash",'
                f'"params":["{manifest.eip1559_tx}"]}}')
        print(f"  try: curl -s {anvil.url} -H 'content-type: application/json' -d '{call}'",
              file=sys.stderr)
    return anvil


def _check_ports(settings: Settings, host: str, port: int, devnet_port: int | None) -> None:
    """Every port this run will listen on, before anything starts (PortUnavailable)."""
    from .server import check_port

    check_port(host, port, what="the HTTP server", change=HTTP_PORT_FLAG)
    if settings.metrics_address:
        admin_host, _, admin_port = settings.metrics_address.rpartition(":")
        check_port(admin_host.strip("[]"), int(admin_port),
                   what="the admin listener (METRICS_ADDRESS)", change="change METRICS_ADDRESS")
    if devnet_port is not None:
        check_port("127.0.0.1", devnet_port, what="the devnet (anvil)", change=DEVNET_PORT_FLAG)


def cmd_serve(args: argparse.Namespace) -> int:
    # before granian is imported (bizra_node.server imports it): jemalloc reads its
    # options once, at its first use
    os.environ.setdefault("_RJEM_MALLOC_CONF", GRANIAN_MALLOC_CONF)
    from .server import PortUnavailable

    if args.config:  # the workers read it too
        os.environ[CONFIG_ENV] = os.path.abspath(args.config)
    networks = _load_networks(serving=True)
    if networks is None:
        return 2
    settings = networks.default
    if settings.db_enabled and (problem := _data_dir_problem(settings)):
        print(problem, file=sys.stderr)
        return 2
    if settings.bizra_loop not in ("auto", "asyncio") and importlib.util.find_spec(
            settings.bizra_loop) is None:
        print(f"BIZRA_LOOP={settings.bizra_loop}: the {settings.bizra_loop} package is not "
              f"installed (pip install {settings.bizra_loop}, or BIZRA_LOOP=asyncio)", file=sys.stderr)
        return 2
    host = args.host or settings.bizra_host
    port = args.port if args.port is not None else settings.bizra_port
    try:
        _check_ports(settings, host, port,
                     None if settings.upstream_urls else args.devnet_port)
        return _serve(args, settings, host, port, networks.chain_ids)
    except (PortUnavailable, DevnetFailed) as exc:
        print(str(exc), file=sys.stderr)
        return 1


def _serve(args: argparse.Namespace, settings: Settings, host: str, port: int,
           chain_ids: tuple[int, ...] = ()) -> int:
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.http import HTTP1Settings

    from .app.config_file import heads_path
    from .observability import (
        MultiprocWriter,
        SupervisorMetrics,
        configure_logging,
        prepare_directory,
        remove_directory,
    )
    from .server import SupervisedGranian
    from .validation import HeadsFileError, create_heads_file, remove_heads_file

    anvil = None
    embedded = None
    metrics_dir, made = "", False
    heads_file, heads_made = "", False
    given_heads = os.environ.get("HEADS_FILE")
    admin = None
    try:
        if not settings.upstream_urls:
            shown = f"[{host}]" if ":" in host else host
            anvil = _start_devnet(args.devnet_port, node=f"http://{shown}:{port}")
            os.environ["BIZRA_NODE_URL"] = anvil.url  # type: ignore[attr-defined]
        if settings.db_enabled and not settings.database_url:
            # One embedded PostgreSQL for all workers, started here so they share it.
            from .store import EmbeddedPostgres

            embedded = EmbeddedPostgres(settings.data_dir)
            os.environ["DATABASE_URL"] = embedded.start()
            print(f"database: embedded PostgreSQL in {embedded.folder}", file=sys.stderr)
        if settings.db_enabled:
            _prepare_schema(os.environ.get("DATABASE_URL") or settings.database_url, settings)
        workers = args.workers or settings.workers
        rsgi = args.interface == "rsgi"
        target = args.app or ("bizra_node.app:create_rsgi_app" if rsgi
                              else "bizra_node.app:create_asgi_app")
        # Workers publish their metrics as files in one directory that /metrics merges;
        # they learn the worker count (their share of the memory limit) from the env too.
        backpressure = connection_budget(settings.http_max_connections, workers)
        # The workers share the highest head and finalized block any of them has shown
        # through one small file made here, before they start (validation/shared_heads.py).
        # (one per network: the default network's here, another's beside it)
        try:
            heads_file, heads_made = create_heads_file(settings.heads_file,
                                                       settings.bizra_network_id)
            for chain_id in chain_ids[1:]:
                create_heads_file(heads_path(heads_file, chain_id), chain_id)
        except (HeadsFileError, OSError) as exc:
            print(f"heads file: {exc}", file=sys.stderr)
            return 2
        os.environ["HEADS_FILE"] = heads_file
        metrics_dir, made = prepare_directory(os.environ.get("PROMETHEUS_MULTIPROC_DIR", ""))
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        os.environ["BIZRA_WORKERS"] = str(workers)
        # The main process counts the workers it replaces into the same directory.
        counts = SupervisorMetrics()
        writer = MultiprocWriter(counts, metrics_dir)
        writer.flush()

        def restarted(_slot: int, _pid: int | None, _how: str) -> None:
            counts.worker_restarts.inc()
            writer.flush()

        def listening() -> None:
            print(f"bizra-node: serving on http://{host}:{port} ({workers} workers, "
                  f"{'rsgi' if rsgi else 'asgi'}, {settings.bizra_loop} loop, {backpressure} "
                  "connections each)", file=sys.stderr, flush=True)

        # HTTP/1 only by default: granian's "auto" mode starts no timer while it waits
        # for the first bytes, so a connection that sends nothing would be held forever.
        # A worker that dies is replaced however often it dies (server/supervisor.py).
        server = SupervisedGranian(
            target, address=host, port=port, workers=workers, factory=True,
            interface=Interfaces.RSGI if rsgi else Interfaces.ASGI,
            log_access=False, backlog=2048,
            http=HTTPModes.http1 if args.http == "1" else HTTPModes.auto,
            http1_settings=HTTP1Settings(
                header_read_timeout=max(int(settings.http_header_timeout * 1000), 1)),
            respawn_interval=RESPAWN_INTERVAL,
            backpressure=backpressure, loop=Loops(settings.bizra_loop),
            on_start=lambda: configure_logging(settings.log_level, settings.log_format),
            on_restart=restarted, on_listening=listening,
            what_port="the HTTP server", change_port=HTTP_PORT_FLAG)
        admin = (_start_admin(settings.metrics_address, settings.bizra_loop)
                 if settings.metrics_address else None)
        server.serve()
    finally:
        if admin is not None:
            from .devnet import stop_process

            stop_process(admin, grace=10)
        if metrics_dir:
            remove_directory(metrics_dir, made)
        if heads_file:
            for chain_id in chain_ids[1:]:
                remove_heads_file(heads_path(heads_file, chain_id), False)
            remove_heads_file(heads_file, heads_made)
        if given_heads is None:  # as it was: the file is gone
            os.environ.pop("HEADS_FILE", None)
        else:
            os.environ["HEADS_FILE"] = given_heads
        if anvil is not None:
            anvil.stop()  # type: ignore[attr-defined]
        if embedded is not None:
            embedded.stop()
    return 0


def _data_dir_problem(settings: Settings) -> str | None:
    """One line saying why DATA_DIR cannot hold the node's records, or None."""
    from .store import unwritable

    folder = Path(settings.data_dir).resolve()
    reason = unwritable(folder / "spool")
    if reason is None:
        return None
    return (f"DATA_DIR {folder} is not writable ({reason}): the node keeps its local log and "
            "spool there (and the embedded PostgreSQL without DATABASE_URL); set DATA_DIR to "
            "a writable folder")


def connection_budget(wanted: int, workers: int) -> int:
    """Connections each worker may hold (HTTP_MAX_CONNECTIONS: granian's backpressure
    counts connections, idle ones included), within the open-files limit, whose soft
    value is first raised to the hard one (workers inherit it); said when it is lower."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    limit = soft if soft != resource.RLIM_INFINITY else 1 << 20
    per_worker = max((limit - 256) // max(workers, 1), 64)  # files beside the sockets
    if per_worker < wanted:
        print(f"open-file limit {soft} holds {per_worker} connections per worker, fewer than "
              f"HTTP_MAX_CONNECTIONS ({wanted}): raise it (ulimit -n, LimitNOFILE=) or lower "
              "HTTP_MAX_CONNECTIONS", file=sys.stderr)
    return max(min(wanted, per_worker), 1)


def _start_admin(address: str, loop: str) -> subprocess.Popen[bytes]:
    """The admin listener (METRICS_ADDRESS): a one-worker granian of its own serving
    /metrics, /api/metrics and /health over the workers' metric files."""
    from .lifeline import SUPERVISOR_ENV, die_with_parent

    host, _, port = address.rpartition(":")
    # its own granian: its worker's lifeline is that granian, not this process; and it
    # stops when this process dies (PDEATHSIG), so a killed node leaves no listener
    env = {k: v for k, v in os.environ.items() if k != SUPERVISOR_ENV}
    proc = subprocess.Popen([sys.executable, "-m", "granian", "--interface", "rsgi", "--factory",
                             "--workers", "1", "--host", host.strip("[]"), "--port", port,
                             "--no-ws", "--loop", loop, "--log-level", "warning",
                             "bizra_node.app:create_admin_rsgi_app"], start_new_session=True,
                            env=env, preexec_fn=die_with_parent)
    print(f"bizra-node: metrics on http://{address} (admin listener)", file=sys.stderr)
    return proc


def _prepare_schema(dsn: str, settings: Settings) -> None:
    """Migrations and partitions once, here, before the workers start (each worker
    checks again under the advisory locks, and finds nothing to do). A database that
    cannot be reached is said with its cause; the workers keep trying on their own."""
    import asyncio
    import dataclasses

    from .app import pool_options
    from .store import describe, run_migrations
    from .tuning import TUNING

    options = dataclasses.replace(pool_options(settings),
                                  connect_timeout=min(settings.db_connect_timeout, 3.0))
    try:
        result = asyncio.run(run_migrations(dsn, options, TUNING.db_partitions_ahead))
    except Exception as exc:
        print(f"database: schema not prepared at start ({describe(exc)}); the workers "
              "spool records and keep trying", file=sys.stderr)
        return
    applied = ", ".join(f"{v:04d}" for v in result["applied"]) or "up to date"
    print(f"database: migrations {applied}", file=sys.stderr)


def cmd_devnet(args: argparse.Namespace) -> int:
    from .server import PortUnavailable, check_port

    try:
        check_port("127.0.0.1", args.port, what="the devnet (anvil)", change="pass --port PORT")
        anvil = _start_devnet(args.port, port_flag="pass --port PORT")
    except (PortUnavailable, DevnetFailed) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"devnet running at {anvil.url} (Ctrl-C stops it)", file=sys.stderr)  # type: ignore[attr-defined]
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)  # so sigwait receives them
    with contextlib.suppress(KeyboardInterrupt):
        signal.sigwait(stop_signals)
    anvil.stop()  # type: ignore[attr-defined]
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    print(describe_settings(markdown=args.markdown))
    return 0


def _load_settings(*, serving: bool = False) -> Settings | None:
    """The settings (the default network's, with a configuration file: its top-level
    keys hold what the commands use), or None once each bad one is said (named, never
    with its value); ``serving``: with what only the node needs (a command needs only
    what it uses)."""
    networks = _load_networks(serving=serving)
    return None if networks is None else networks.default


def _load_networks(*, serving: bool = False) -> Networks | None:
    """The networks to serve (the configuration file's, else the environment's one), or
    None once each bad setting is said."""
    from .app.config_file import load_networks

    try:
        return load_networks(serving=serving)
    except SettingsError as exc:
        for line in str(exc).splitlines():
            print(f"bad setting: {line}", file=sys.stderr)
        return None


@contextlib.contextmanager
def _database(settings: Settings) -> Iterator[str]:
    """DATABASE_URL, or an embedded PostgreSQL under DATA_DIR for the command's length."""
    if settings.database_url:
        yield settings.database_url
        return
    from .store import EmbeddedPostgres

    embedded = EmbeddedPostgres(settings.data_dir)
    try:
        yield embedded.start()
    finally:
        embedded.stop()


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply migrations and create partitions ahead (embedded PostgreSQL without DATABASE_URL)."""
    import asyncio

    from .app import pool_options
    from .store import run_migrations
    from .tuning import TUNING

    settings = _load_settings()
    if settings is None:
        return 2
    try:
        with _database(settings) as dsn:
            result = asyncio.run(run_migrations(dsn, pool_options(settings),
                                                TUNING.db_partitions_ahead))
    except Exception as exc:
        print(f"migrate failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    applied = ", ".join(f"{v:04d}" for v in result["applied"]) or "none (up to date)"
    print(f"migrations applied: {applied}")
    print(f"partitions created: {', '.join(result['partitions']) or 'none'}")
    return 0


def cmd_pgbouncer_config(args: argparse.Namespace) -> int:
    """Print pgbouncer.ini for the flags (PgBouncerConfig's defaults) and the database
    settings; --write also writes the userlist."""
    from .store import PgBouncerConfig, parse_backend, render_ini, write_config

    settings = _load_settings()
    if settings is None:
        return 2
    url = args.backend or settings.database_url
    if not url:
        print("no backend: pass --backend or set DATABASE_URL", file=sys.stderr)
        return 2
    try:
        config = PgBouncerConfig(**{name: getattr(args, name) for name in _PGBOUNCER_FLAGS},
                                 query_timeout=settings.db_query_timeout)
    except ValueError as exc:
        print(f"pgbouncer-config: {exc}", file=sys.stderr)
        return 2
    if args.write:
        ini, userlist = write_config(config, Path(args.write), url, with_userlist=True)
        print(f"wrote {ini} and {userlist} (mode 0600)", file=sys.stderr)
        print(ini.read_text(), end="")
        return 0
    print(render_ini(config, parse_backend(url), args.userlist), end="")
    return 0


_PGBOUNCER_FLAGS = ("listen_addr", "listen_port", "pool_mode", "max_client_conn",
                    "default_pool_size", "min_pool_size", "reserve_pool_size",
                    "max_user_connections", "max_db_connections", "server_idle_timeout",
                    "server_lifetime", "query_wait_timeout")
"""PgBouncerConfig's fields that are `pgbouncer-config` flags (--listen-port, ...)."""


def cmd_keys(args: argparse.Namespace) -> int:
    """API keys in PostgreSQL: create (prints the key once, alone on the last line),
    list (never the key), revoke (every node stops accepting it within seconds)."""
    import asyncio

    settings = _load_settings()
    if settings is None:
        return 2
    with _database(settings) as dsn:
        from .app import pool_options, redis_config
        from .keys_cli import KeysContext, run_keys_command
        from .tuning import TUNING

        context = KeysContext(dsn=dsn, options=pool_options(settings),
                              partitions_ahead=TUNING.db_partitions_ahead,
                              secret=settings.api_key_secret.get_secret_value(),
                              redis=redis_config(settings), key_prefix=settings.cache_key_prefix,
                              refresh=settings.api_keys_refresh)
        return asyncio.run(run_keys_command(args, context))


PLUGIN_GROUP = "bizra_node.plugins"
"""Entry-point group of the commands other distributions add (bench: bizra-node-bench)."""

BenchRunner = Callable[[str, list[str], str | None], int]
"""``run_bench(scenario, argv, out)`` of the benchmark harness (bizra_bench.runner)."""


def load_plugin(name: str) -> object | None:
    """The object the installed entry point ``name`` of ``PLUGIN_GROUP`` names, or None."""
    from importlib.metadata import entry_points

    found = entry_points(group=PLUGIN_GROUP, name=name)
    return next(iter(found)).load() if found else None


def cmd_bench(args: argparse.Namespace) -> int:
    """The benchmark harness is a distribution of its own (bench/ of the checkout)."""
    runner = load_plugin("bench")
    if runner is None:
        print("bizra-node bench: the benchmark harness is not installed: run `pip install -e "
              "./bench` in a BIZRA-NODE0 checkout (`make setup` does)", file=sys.stderr)
        return 2
    return int(cast(BenchRunner, runner)(args.scenario, args.rest, args.out))


def cmd_cluster(args: argparse.Namespace) -> int:
    """A local cluster (nodes, HAProxy, Redis, PostgreSQL + replica, PgBouncer, devnet)."""
    from .cluster.command import run_cluster_command

    return run_cluster_command(args)


def cmd_beacon(args: argparse.Namespace) -> int:
    """The consensus light client by hand: `beacon verify` syncs from a checkpoint."""
    from .consensus import run_beacon_command

    return run_beacon_command(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bizra-node", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser(
        "serve", help="run the node (granian)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="settings (environment variables):\n" + describe_settings())
    serve.add_argument("--config", default="", metavar="PATH",
                       help="the configuration file (bizra-node.toml: the networks to serve, "
                       f"and settings; also {CONFIG_ENV}); the environment overrides its "
                       "settings")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--workers", type=int, default=0)
    serve.add_argument("--interface", choices=["rsgi", "asgi"], default="rsgi",
                       help="server interface: rsgi (the default, fastest measured) or asgi")
    serve.add_argument("--http", choices=["1", "auto"], default="1",
                       help="HTTP versions: 1 (HTTP/1.1, the default) or auto (also cleartext "
                            "HTTP/2; granian 2.8 then never closes a connection that sends "
                            "nothing: HTTP_HEADER_TIMEOUT starts once the protocol is known)")
    serve.add_argument("--app", default="", metavar="MODULE:FACTORY",
                       help="the application factory granian calls in each worker (default: "
                            "the node's own, bizra_node.app:create_rsgi_app or "
                            "create_asgi_app); the benchmark harness passes its own")
    serve.add_argument("--devnet-port", type=int, default=8545,
                       help="anvil port when BIZRA_NODE_URL is empty")
    serve.set_defaults(func=cmd_serve)

    devnet = sub.add_parser("devnet", help="run a seeded local anvil devnet")
    devnet.add_argument("--port", type=int, default=8545)
    devnet.set_defaults(func=cmd_devnet)

    settings = sub.add_parser("settings", help="list every setting with its default")
    settings.add_argument("--markdown", action="store_true", help="as the README's table")
    settings.set_defaults(func=cmd_settings)

    migrate = sub.add_parser("migrate", help="apply database migrations, create partitions")
    migrate.set_defaults(func=cmd_migrate)

    keys = sub.add_parser("keys", help="create, list and revoke API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="make a key (printed once, alone on the last "
                                                "line)")
    create.add_argument("name", help="a name for the key (unique among active keys)")
    create.add_argument("--scopes", default="validate,rpc,history",
                        help="comma-separated: validate, rpc, history, metrics "
                             "(default validate,rpc,history)")
    create.add_argument("--rate", type=float, default=None,
                        help="units per second for this key (default RATE_LIMIT_KEY_RPS)")
    create.add_argument("--burst", type=int, default=None,
                        help="burst for this key (default RATE_LIMIT_KEY_BURST)")
    keys_sub.add_parser("list", help="every key: name, id, scopes, created, last used, revoked")
    revoke = keys_sub.add_parser("revoke", help="revoke the active key called NAME")
    revoke.add_argument("name")
    keys.set_defaults(func=cmd_keys)

    pgb = sub.add_parser("pgbouncer-config",
                         help="print pgbouncer.ini for the database settings and these flags")
    pgb.add_argument("--backend", default="",
                     help="PostgreSQL URL PgBouncer forwards to (default: DATABASE_URL)")
    pgb.add_argument("--write", metavar="INI_PATH", default="",
                     help="write the ini there and userlist.txt next to it (mode 0600)")
    pgb.add_argument("--userlist", default="userlist.txt",
                     help="auth_file path named in the printed ini")
    from .store import PgBouncerConfig

    defaults = PgBouncerConfig()
    for name in ("listen_addr", "pool_mode"):
        pgb.add_argument(f"--{name.replace('_', '-')}", default=getattr(defaults, name),
                         choices=["session", "transaction"] if name == "pool_mode" else None,
                         help=f"{name} (default %(default)s)")
    for name in ("listen_port", "max_client_conn", "default_pool_size", "min_pool_size",
                 "reserve_pool_size", "max_user_connections", "max_db_connections",
                 "server_idle_timeout", "server_lifetime", "query_wait_timeout"):
        pgb.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name),
                         help=f"{name}{', s' if 'timeout' in name or 'lifetime' in name else ''}"
                              " (default %(default)s)")
    pgb.set_defaults(func=cmd_pgbouncer_config)

    from .cluster.command import add_cluster_parser

    add_cluster_parser(sub).set_defaults(func=cmd_cluster)

    from .consensus import add_beacon_parser

    add_beacon_parser(sub).set_defaults(func=cmd_beacon)

    bench = sub.add_parser("bench", help="run a benchmark scenario (results in bench/results/; "
                           "needs the harness: pip install -e ./bench)")
    bench.add_argument("--out", metavar="DIR", default=None,
                       help="results folder (default: BENCH_RESULTS, else bench/results/ of "
                            "the checkout)")
    bench.add_argument("scenario", help="a scenario of the harness (an unknown name lists "
                                        "them); SCENARIO --help gives its options")
    bench.add_argument("rest", nargs=argparse.REMAINDER)
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
