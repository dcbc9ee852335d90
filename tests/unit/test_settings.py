from __future__ import annotations

import pytest
from pydantic import ValidationError

from bizra_node.settings import Settings, cpu_count, describe_settings


def test_defaults_follow_the_roadmap() -> None:
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.pool_max == min(2 * cpu_count() + 10, 100)
    assert s.pool_min == max(cpu_count() // 4, 2)
    assert (s.db_statement_timeout, s.db_query_timeout, s.db_connect_timeout) == (30, 35, 10)
    assert (s.retry_attempts, s.retry_initial, s.retry_multiplier, s.retry_max) == (3, 0.1, 2, 2)
    assert s.l1_cache_size == 10000 and s.l1_max_ttl == 300


def test_cloud_pool_formula() -> None:
    s = Settings(_env_file=None, db_type="rds")  # type: ignore[call-arg]
    assert s.pool_max == min(2 * cpu_count() + 4, 100)


def test_env_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIZRA_NODE_URL", "http://a:1, http://b:2")
    monkeypatch.setenv("L1_CACHE_SIZE", "5")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.upstream_urls == ["http://a:1", "http://b:2"]
    assert s.l1_cache_size == 5


@pytest.mark.parametrize(("name", "value"), [
    ("BIZRA_NODE_URL", "ftp://x"), ("BIZRA_PORT", "99999"), ("L1_CACHE_SIZE", "-1"),
    ("LOG_LEVEL", "loud"), ("RETRY_MAX", "0.01"),
])
def test_bad_values_fail_at_load(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings(_env_file=None)  # type: ignore[call-arg]


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
    with pytest.raises(ValidationError, match="CACHE_SECRET"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.setenv("CACHE_SECRET", "x" * 32)
    assert Settings(_env_file=None).cache_secret.get_secret_value() == "x" * 32  # type: ignore[call-arg]
    assert "x" * 32 not in repr(Settings(_env_file=None))  # type: ignore[call-arg]
