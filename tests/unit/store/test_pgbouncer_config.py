"""pgbouncer.ini rendering."""

from __future__ import annotations

from bizra_node.store import PgBouncerConfig, parse_backend, render_ini
from bizra_node.store.pgbouncer import render_userlist


def test_backend_from_urls() -> None:
    b = parse_backend("postgresql://u:p%40ss@h:6000/db")
    assert (b.host, b.port, b.dbname, b.user, b.password) == ("h", 6000, "db", "u", "p@ss")
    s = parse_backend("postgresql://postgres:@/bizra_node?host=/data/pg")
    assert (s.host, s.port, s.dbname, s.user, s.password) == ("/data/pg", 5432, "bizra_node",
                                                              "postgres", "")


def test_trust_backend_and_overrides() -> None:
    config = PgBouncerConfig(pool_mode="transaction", listen_port=7000, query_timeout=12.5)
    backend = parse_backend("postgresql://postgres@127.0.0.1/x")
    ini = render_ini(config, backend, "/etc/u.txt")
    lines = ini.splitlines()
    for line in ("auth_type = trust", "pool_mode = transaction", "listen_port = 7000",
                 "query_timeout = 13", "auth_file = /etc/u.txt"):
        assert line in lines, line
    assert render_userlist(parse_backend("postgresql://postgres@h/x")) == '"postgres" ""\n'
