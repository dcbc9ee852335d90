from __future__ import annotations

import pytest
from pydantic import ValidationError

from bizra_node.settings import (
    Settings,
    SettingsError,
    cpu_count,
    describe_settings,
    load_settings,
)


def test_the_documented_defaults() -> None:
    from bizra_node.tuning import TUNING

    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.pool_max == min(2 * cpu_count() + 10, 100)
    assert s.pool_min == max(cpu_count() // 4, 2)
    assert (s.db_statement_timeout, s.db_query_timeout, s.db_connect_timeout) == (30, 35, 10)
    assert (s.retry_attempts, s.retry_initial, TUNING.retry_multiplier, TUNING.retry_max) == (
        3, 0.1, 2, 2)
    assert s.l1_cache_size == 10000 and s.l1_max_ttl == 300
    assert Settings(_env_file=None, db_pool_max=12).pool_max == 12  # type: ignore[call-arg]


def test_env_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIZRA_NODE_URL", "http://a:1, http://b:2")
    monkeypatch.setenv("L1_CACHE_SIZE", "5")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.upstream_urls == ["http://a:1", "http://b:2"]
    assert s.l1_cache_size == 5


@pytest.mark.parametrize(("name", "value"), [
    ("BIZRA_NODE_URL", "ftp://x"), ("BIZRA_PORT", "99999"), ("L1_CACHE_SIZE", "-1"),
    ("LOG_LEVEL", "loud"), ("RETRY_INITIAL", "2.5"), ("TRUST_REQUIRE", "sometimes"),
])
def test_bad_values_fail_at_load(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.mark.parametrize("urls", [
    "http://a:1,http://a:1", "http://a:1, http://A:1/", "https://a,https://a:443",
    "http://a:1/v3/key,http://a:1/v3/key/",
])
def test_an_upstream_listed_twice_is_refused(monkeypatch: pytest.MonkeyPatch, urls: str) -> None:
    """One server listed twice would be counted twice toward ANCHOR_QUORUM and
    HEAD_QUORUM: a quorum of one (found: anchor source "quorum" behind one anvil)."""
    monkeypatch.setenv("BIZRA_NODE_URL", urls)
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None)  # type: ignore[call-arg]
    assert "BIZRA_NODE_URL: an upstream is listed twice" in str(caught.value)
    assert "key" not in str(caught.value)  # shown without its path


def test_one_host_on_other_ports_or_paths_is_two_upstreams(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIZRA_NODE_URL", "http://a:1,http://a:2,http://a:1/v3/k1,http://a:1/v3/k2")
    assert len(Settings(_env_file=None).upstream_urls) == 4  # type: ignore[call-arg]


def test_describe_lists_every_setting() -> None:
    text = describe_settings()
    for name in Settings.model_fields:
        assert name.upper() in text


def test_every_setting_is_read_outside_settings_py() -> None:
    """A documented setting acts: each field of Settings is read by the code (directly,
    or through a Settings property that reads it), so none can claim more than it does."""
    import ast
    import re
    from pathlib import Path

    package = Path(__file__).resolve().parents[2] / "src" / "bizra_node"
    source = package / "settings.py"
    properties: dict[str, set[str]] = {}
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.FunctionDef) and any(
                isinstance(d, ast.Name) and d.id == "property" for d in node.decorator_list):
            properties[node.name] = {a.attr for a in ast.walk(node)
                                     if isinstance(a, ast.Attribute)
                                     and isinstance(a.value, ast.Name) and a.value.id == "self"}
    code = "\n".join(p.read_text() for p in package.rglob("*.py") if p != source)
    used = {name for name in re.findall(r"\.([a-z_][a-z0-9_]*)\b", code)}
    read = set(used)
    changed = True
    while changed:  # properties reading properties
        changed = False
        for prop, reads in properties.items():
            if prop in read and not reads <= read:
                read |= reads
                changed = True
    unread = [name for name in Settings.model_fields if name not in read]
    assert unread == [], f"settings nobody reads: {unread}"


@pytest.mark.parametrize("secret", [None, "short"])
def test_redis_without_a_cache_secret_refuses_to_start(monkeypatch: pytest.MonkeyPatch,
                                                       secret: str | None) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    if secret is not None:
        monkeypatch.setenv("CACHE_SECRET", secret)
    with pytest.raises(SettingsError, match="CACHE_SECRET"):
        load_settings(_env_file=None, serving=True)
    assert load_settings(_env_file=None).redis_url  # the commands do not use the cache
    monkeypatch.setenv("CACHE_SECRET", "x" * 32)
    assert Settings(_env_file=None).cache_secret.get_secret_value() == "x" * 32  # type: ignore[call-arg]
    assert "x" * 32 not in repr(Settings(_env_file=None))  # type: ignore[call-arg]


MOVED_OUT = {
    # benchmark and test switches: Harness (bizra_node.tuning), set by the bench harness
    "bench_endpoints", "rpc_sequential", "rpc_force_close", "metrics_enabled",
    "trust_pooled_blob_leaves",
    # what only `bizra-node pgbouncer-config` used: its flags
    "pgbouncer_backend_url", "pgbouncer_listen_addr", "pgbouncer_listen_port",
    "pgbouncer_pool_mode", "pgbouncer_max_client_conn", "pgbouncer_default_pool_size",
    "pgbouncer_min_pool_size", "pgbouncer_reserve_pool_size", "pgbouncer_max_user_connections",
    "pgbouncer_max_db_connections", "pgbouncer_server_idle_timeout", "pgbouncer_server_lifetime",
    "pgbouncer_query_wait_timeout",
    # internal tuning: named constants (Tuning), each with where its value comes from
    "cb_window_size", "hedge_min_delay", "journal_commit_interval", "memory_high_ratio",
    "memory_critical_ratio", "db_type",
    # duplicates of a flag (`serve --interface`) or the library's own variable
    "bizra_interface", "prometheus_multiproc_dir",
}


def test_the_settings_are_the_ones_an_operator_needs() -> None:
    """147 settings were too many to read: benchmark switches, a command's knobs and
    internal constants are not settings. The other helpers' additions have room (the
    consensus anchor took four: ANCHOR_SOURCE and BEACON_*)."""
    assert len(Settings.model_fields) < 95
    assert MOVED_OUT.isdisjoint(Settings.model_fields)


def test_bizra_node_settings_groups_them_as_the_docs_do() -> None:
    from bizra_node.settings import GROUPS

    text = describe_settings()
    headings = [line for line in text.splitlines() if line and not line.startswith(" ")]
    assert headings == [f"{title}:" for title, _ in GROUPS]
    table = describe_settings(markdown=True)
    assert [line for line in table.splitlines() if line.startswith("### ")] == [
        f"### {title}" for title, _ in GROUPS]
    listed = [name for _, names in GROUPS for name in names]
    assert sorted(listed) == sorted(Settings.model_fields)  # each once, in one group


# -- the consensus anchor: ANCHOR_SOURCE and BEACON_* ------------------------------------------
_ROOT = "0x" + "ab" * 32


def test_the_beacon_anchor_settings() -> None:
    s = load_settings(anchor_source="beacon", beacon_api_urls="http://a:5052/s3cr3t, https://b",
                      beacon_checkpoint=_ROOT, beacon_network="sepolia")
    assert s.beacon_urls == ["http://a:5052/s3cr3t", "https://b"]
    assert "s3cr3t" not in repr(s)  # a provider's key in the path is not shown
    assert load_settings().anchor_source == "auto" and not load_settings().beacon_anchor
    assert s.beacon_anchor


def test_the_beacon_anchor_is_the_default_where_a_beacon_api_is_given() -> None:
    auto = load_settings(beacon_api_urls="http://a:5052", beacon_checkpoint=_ROOT)
    assert auto.anchor_source == "auto" and auto.beacon_anchor
    pinned = load_settings(anchor_source="upstreams")
    assert not pinned.beacon_anchor


@pytest.mark.parametrize(("values", "says"), [
    ({"anchor_source": "helios"},
     "ANCHOR_SOURCE: Input should be 'auto', 'upstreams' or 'beacon'"),
    ({"anchor_source": "beacon"}, "ANCHOR_SOURCE=beacon needs BEACON_API_URLS"),
    ({"anchor_source": "beacon", "beacon_api_urls": "http://a"},
     "ANCHOR_SOURCE=beacon needs BEACON_API_URLS (beacon APIs) and BEACON_CHECKPOINT"),
    ({"beacon_api_urls": "http://a"}, "ANCHOR_SOURCE=beacon needs BEACON_API_URLS"),
    ({"beacon_checkpoint": _ROOT}, "BEACON_CHECKPOINT is set but BEACON_API_URLS is not"),
    ({"anchor_source": "upstreams", "beacon_api_urls": "http://a"},
     "is set but ANCHOR_SOURCE is upstreams"),
    ({"anchor_source": "upstreams", "beacon_checkpoint": _ROOT},
     "is set but ANCHOR_SOURCE is upstreams"),
    ({"anchor_source": "beacon", "beacon_api_urls": "http://a", "beacon_checkpoint": "0x12"},
     "BEACON_CHECKPOINT must be 0x + 64 hex digits"),
    ({"anchor_source": "beacon", "beacon_api_urls": "http://a",
      "beacon_checkpoint": "0x" + "zz" * 32}, "BEACON_CHECKPOINT must be 0x + 64 hex digits"),
    ({"anchor_source": "beacon", "beacon_api_urls": "ws://a", "beacon_checkpoint": _ROOT},
     "BEACON_API_URLS: each entry must be a http:// or https:// URL"),
    ({"anchor_source": "beacon", "beacon_api_urls": "http://a", "beacon_checkpoint": _ROOT,
      "beacon_network": "goerli"}, "BEACON_NETWORK: not a known network"),
    ({"anchor_source": "beacon", "beacon_api_urls": "http://a", "beacon_checkpoint": _ROOT,
      "beacon_network": "/nowhere/config.yaml"}, "BEACON_NETWORK: cannot read"),
    ({"anchor_source": "beacon", "beacon_api_urls": "http://a", "beacon_checkpoint": _ROOT,
      "anchor_checkpoint": "1:" + _ROOT}, "ANCHOR_CHECKPOINT pins an execution block"),
])
def test_bad_beacon_settings_are_one_clear_line(values: dict[str, str], says: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(**values)
    message = str(caught.value)
    assert says in message and "\n" not in message, message
