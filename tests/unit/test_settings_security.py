"""The security settings are checked at load, each bad value named."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bizra_node.app import guard_config, limiter_config
from bizra_node.settings import Settings, SettingsError, load_settings

SECRET = "s" * 32


def load(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(("values", "message"), [
    ({"api_keys_mode": "required"}, "API_KEY_SECRET must be set"),
    ({"api_keys_mode": "optional", "api_key_secret": "short"}, "API_KEY_SECRET must be set"),
    ({"api_keys_mode": "required", "api_key_secret": SECRET, "db_enabled": False},
     "keys live in PostgreSQL"),
])
def test_what_the_node_needs_is_checked_when_serving(values: dict[str, object],
                                                     message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(_env_file=None, serving=True, **values)
    load(**values)  # `bizra-node keys list` needs neither the secret nor the mode


@pytest.mark.parametrize(("values", "message"), [
    ({"api_keys_mode": "sometimes"}, "api_keys_mode"),
    ({"api_anonymous_scopes": "validate,admin"}, "unknown scope 'admin'"),
    ({"rate_limit_rpc_costs": "eth_getLogs"}, "is not method=units"),
    ({"rate_limit_rpc_costs": "eth_getLogs=0"}, "is not method=units"),
    ({"rate_limit_rpc_costs": "eth_getLogs=ten"}, "is not method=units"),
    ({"rate_limit_rps": -1}, "rate_limit_rps"),
    ({"rate_limit_burst": 0}, "rate_limit_burst"),
    ({"rate_limit_on_redis_down": "maybe"}, "rate_limit_on_redis_down"),
    ({"trusted_proxies": "10.0.0.0/8,not-a-net"}, "TRUSTED_PROXIES"),
    ({"metrics_address": "9100"}, "METRICS_ADDRESS must be host:port"),
    ({"metrics_address": "127.0.0.1:99999"}, "METRICS_ADDRESS must be host:port"),
    ({"http_max_connections": 5}, "http_max_connections"),
])
def test_bad_security_values_fail_at_load(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        load(**values)


def test_the_secret_is_not_shown() -> None:
    s = load(api_keys_mode="required", api_key_secret=SECRET)
    assert SECRET not in repr(s) and SECRET not in str(s.model_dump())


def test_configs_made_from_the_settings() -> None:
    s = load(rate_limit_rps=10, rate_limit_burst=20, rate_limit_key_rps=0,
             rate_limit_rpc_costs="eth_getLogs=20, eth_call=3", trusted_proxies="10.0.0.0/8",
             api_keys_mode="optional", api_key_secret=SECRET, bizra_workers=4,
             rate_limit_on_redis_down="closed")
    g = guard_config(s)
    assert g.anonymous is not None and (g.anonymous.rate, g.anonymous.burst) == (10, 20)
    assert g.key_default is None  # 0: keys unlimited unless their own
    assert g.keys_mode == "optional" and len(g.trusted_proxies) == 1
    assert s.rpc_costs == {"eth_getLogs": 20, "eth_call": 3}
    lc = limiter_config(s)
    assert (lc.workers, lc.on_redis_down) == (4, "closed")
