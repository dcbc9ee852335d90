"""No setting's secret reaches an error, `bizra-node settings` or a repr.

Every secret setting and every URL setting is given a bad value while every secret (and
a password in every URL) is set; the error names the bad setting and shows no secret,
not even a piece of one (pydantic used to print its whole input, truncated in the
middle: the start of one secret and the tail of another)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from bizra_node.settings import SECRET_FIELDS, URL_FIELDS, Settings, SettingsError, load_settings

BIN = str(Path(sys.executable).with_name("bizra-node"))

SECRETS = {
    "API_KEY_SECRET": "ak9f3c27d1e08b4a6f5c2e9d7b1a0f4e83",
    "CACHE_SECRET": "cs5e0b8a4d2c7f1e9a3b6d0c8e2f4a7b19",
    "REDIS_SENTINEL_PASSWORD": "sp7c1d9e3f5a0b2c4d6e8f",
}
PASSWORDS = ["dbpw4f2a9c8e17", "rppw77e1b0c3d5", "rdpw9d3c5a0e6f",
             "uk0f9e8d7c6b5a49382716a5b4c3d2e1f0", "wspw0b1c2d3e4f", "bk3a8e1c0f7d5b92"]
GOOD = {
    **SECRETS,
    "API_KEYS_MODE": "required",
    "DATABASE_URL": f"postgresql://bizra:{PASSWORDS[0]}@db.example:5432/bizra",
    "DB_READ_URLS": f"postgresql://bizra:{PASSWORDS[1]}@replica.example:5432/bizra",
    "REDIS_URL": f"redis://:{PASSWORDS[2]}@cache-a.example:26379,redis://cache-b.example:26379",
    "REDIS_MODE": "sentinel",
    "BIZRA_NODE_URL": f"https://mainnet.example/v3/{PASSWORDS[3]}",
    "HEAD_FOLLOW_WS": f"wss://u:{PASSWORDS[4]}@mainnet.example/ws",
}

BAD = [
    ("CACHE_SECRET", {"CACHE_SECRET": "cs5e0b8a4d"}),
    ("API_KEY_SECRET", {"API_KEY_SECRET": "ak9f3c27d1"}),
    ("REDIS_SENTINEL_PASSWORD", {"REDIS_MODE": "standalone", "REDIS_URL": "redis://c:6379"}),
    ("DATABASE_URL", {"DATABASE_URL": "notaurl"}),
    ("DATABASE_URL", {"DATABASE_URL": f"mysql://root:{PASSWORDS[0]}@db.example/bizra"}),
    ("DATABASE_URL", {"DATABASE_URL": f"postgresql://u:{PASSWORDS[0]}@db.example:port/x"}),
    ("DATABASE_URL", {"DATABASE_URL": f"postgresql://u:{PASSWORDS[0]}@[::1/x"}),
    ("DB_READ_URLS", {"DB_READ_URLS": f"{GOOD['DB_READ_URLS']},mysql://r:{PASSWORDS[1]}@r/x"}),
    ("REDIS_URL", {"REDIS_URL": f"http://:{PASSWORDS[2]}@cache.example:6379"}),
    ("REDIS_URL", {"REDIS_URL": f"redis://:{PASSWORDS[2]}@cache.example:sixthousand/0"}),
    ("REDIS_URL", {"REDIS_MODE": "standalone", "REDIS_SENTINEL_PASSWORD": "",
                   "REDIS_URL": f"redis://:{PASSWORDS[2]}@a:1,redis://:{PASSWORDS[2]}@b:1"}),
    ("BIZRA_NODE_URL", {"BIZRA_NODE_URL": f"htps://mainnet.example/v3/{PASSWORDS[3]}"}),
    ("BIZRA_NODE_URL", {"BIZRA_NODE_URL": f"https://u:{PASSWORDS[3]}@mainnet.example:x/"}),
    ("HEAD_FOLLOW_WS", {"HEAD_FOLLOW_WS": f"https://u:{PASSWORDS[4]}@mainnet.example/ws"}),
    ("BEACON_API_URLS", {"ANCHOR_SOURCE": "beacon", "BEACON_CHECKPOINT": "0x" + "ab" * 32,
                         "BEACON_API_URLS": f"ftp://beacon.example/{PASSWORDS[5]}"}),
    ("BEACON_API_URLS", {"ANCHOR_SOURCE": "beacon", "BEACON_CHECKPOINT": "0x" + "ab" * 32,
                         "BEACON_API_URLS": f"https://u:{PASSWORDS[5]}@beacon.example:x/"}),
    ("BIZRA_PORT", {"BIZRA_PORT": "99999"}),
    ("LOG_LEVEL", {"LOG_LEVEL": "loud"}),
]


def leaks(text: str) -> list[str]:
    """Each secret, or any 8 characters of one, found in ``text``."""
    found = []
    for secret in [*SECRETS.values(), *PASSWORDS]:
        pieces = {secret[i:i + 8] for i in range(len(secret) - 7)}
        found += [f"{secret} ({piece})" for piece in pieces if piece in text][:1]
    return found


def env(overrides: dict[str, str]) -> dict[str, str]:
    return {**GOOD, **overrides}


def test_the_good_values_load() -> None:
    s = load_settings(_env_file=None, **{k.lower(): v for k, v in GOOD.items()})
    assert leaks(repr(s)) == []


def test_the_cases_cover_every_secret_and_url_setting() -> None:
    assert {name.lower() for name, _ in BAD} >= set(SECRET_FIELDS) | set(URL_FIELDS)
    for name in SECRET_FIELDS:
        assert "SecretStr" in str(Settings.model_fields[name].annotation), name


@pytest.mark.parametrize(("name", "overrides"), BAD, ids=[f"{n}-{i}" for i, (n, _) in
                                                         enumerate(BAD)])
def test_a_bad_setting_is_named_and_no_secret_is_shown(name: str,
                                                       overrides: dict[str, str]) -> None:
    values = {k.lower(): v for k, v in env(overrides).items()}
    with pytest.raises(SettingsError) as said:
        load_settings(_env_file=None, serving=True, **values)
    assert name in str(said.value)
    assert leaks(str(said.value)) == []
    try:  # pydantic's own text, should anyone print it
        Settings(_env_file=None, **values)  # type: ignore[arg-type]
    except ValidationError as raw:
        assert leaks(str(raw)) == [] and leaks(repr(raw)) == []


@pytest.mark.parametrize(("name", "overrides"), [BAD[1], BAD[4], BAD[9], BAD[11]])
def test_the_cli_says_the_bad_setting_without_secrets(name: str, overrides: dict[str, str],
                                                     tmp_path: Path) -> None:
    done = subprocess.run([BIN, "serve"], env={**os.environ, **env(overrides)}, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert name in done.stderr and leaks(done.stderr + done.stdout) == []


def test_bizra_node_settings_shows_no_secret(tmp_path: Path) -> None:
    done = subprocess.run([BIN, "settings"], env={**os.environ, **GOOD}, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=True)
    assert leaks(done.stdout + done.stderr) == []
