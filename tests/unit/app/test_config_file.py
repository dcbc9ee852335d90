"""The configuration file: the networks it names, and each mistake said with its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bizra_node.app import CONFIG_ENV, load_networks
from bizra_node.cli import main
from bizra_node.settings import SettingsError

ROOT = Path(__file__).resolve().parents[3]

TWO = """
[[networks]]
chain_id = 31337
upstreams = ["http://127.0.0.1:8545"]
default = true
[[networks]]
chain_id = 10
upstreams = ["http://127.0.0.1:9545"]
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "bizra-node.toml"
    path.write_text(text)
    return str(path)


def refusal(tmp_path: Path, text: str) -> str:
    with pytest.raises(SettingsError) as caught:
        load_networks(path=write(tmp_path, text))
    return str(caught.value)


def test_the_issue_shape_loads_two_networks_default_first(tmp_path: Path) -> None:
    networks = load_networks(path=write(tmp_path, TWO))
    assert networks.chain_ids == (31337, 10)
    assert networks.default.upstream_urls == ["http://127.0.0.1:8545"]
    assert networks.settings[1].upstream_urls == ["http://127.0.0.1:9545"]


def test_bizra_config_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_ENV, write(tmp_path, TWO))
    assert load_networks().chain_ids == (31337, 10)


def test_without_a_file_the_environment_is_one_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    monkeypatch.setenv("BIZRA_NETWORK_ID", "5")
    monkeypatch.setenv("BIZRA_NODE_URL", "http://127.0.0.1:1")
    networks = load_networks()
    assert networks.chain_ids == (5,)
    assert networks.default.upstream_urls == ["http://127.0.0.1:1"]
    assert networks.path == ""


def test_the_default_is_put_first_and_without_one_the_first_is(tmp_path: Path) -> None:
    text = TWO.replace("default = true\n", "") + "default = true\n"
    assert load_networks(path=write(tmp_path, text)).chain_ids == (10, 31337)
    assert load_networks(path=write(tmp_path, TWO.replace("default = true\n", ""))
                         ).chain_ids == (31337, 10)


def test_a_network_has_its_own_settings_over_the_top_level(tmp_path: Path) -> None:
    text = """
ttl_final = 100.0
finality_depth = 32
[[networks]]
chain_id = 1
upstreams = "http://a.example:8545,http://b.example:8545"
[[networks]]
chain_id = 10
upstreams = ["http://127.0.0.1:9545"]
finality_depth = 10
anchor_quorum = 1
rate_limit_rpc_costs = { eth_getLogs = 20, eth_call = 3 }
"""
    one, ten = load_networks(path=write(tmp_path, text)).settings
    assert (one.finality_depth, one.ttl_final, len(one.upstream_urls)) == (32, 100.0, 2)
    assert (ten.finality_depth, ten.ttl_final, ten.anchor_quorum) == (10, 100.0, 1)
    assert ten.rpc_costs == {"eth_getLogs": 20, "eth_call": 3}
    assert one.rpc_costs == {}


def test_the_environment_overrides_a_top_level_setting(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTL_FINAL", "7")
    text = "ttl_final = 100.0\n" + TWO
    assert load_networks(path=write(tmp_path, text)).default.ttl_final == 7.0


def test_each_network_but_the_default_has_a_heads_file_of_its_own(tmp_path: Path) -> None:
    text = 'heads_file = "/run/bizra/heads"\n' + TWO
    default, other = load_networks(path=write(tmp_path, text)).settings
    assert (default.heads_file, other.heads_file) == ("/run/bizra/heads", "/run/bizra/heads.10")


@pytest.mark.parametrize(("text", "said"), [
    ("nonsense = 1\n" + TWO, "unknown key 'nonsense'"),
    ('bizra_node_url = "http://x:1"\n' + TWO, "bizra_node_url belongs in a [[networks]]"),
    (TWO + "colour = 'red'\n", "networks[1]: unknown key 'colour'"),
    (TWO + "redis_url = 'redis://x:1'\n", "networks[1]: unknown key 'redis_url'"),
    (TWO.replace("chain_id = 10", "chain_id = 31337"),
     "networks[1].chain_id: 31337 is networks[0]'s too"),
    (TWO + "default = true\n", "networks[1].default: networks[0] is the default already"),
    ("", "no network"),
    ("networks = []\n", "no network"),
    ('ttl_final = 5.0\n', "no network"),
    ("[[networks]]\nupstreams = ['http://x:1']\n", "networks[0].chain_id: required"),
    ("[[networks]]\nchain_id = 'ten'\nupstreams = ['http://x:1']\n",
     "networks[0].chain_id: required, a positive integer"),
    ("[[networks]]\nchain_id = 10\n", "networks[0].upstreams: required"),
    ("[[networks]]\nchain_id = 10\nupstreams = []\n", "networks[0].upstreams: required"),
    ("[[networks]]\nchain_id = 10\nupstreams = [1]\n", "networks[0].upstreams: a list of URL"),
    ("[[networks]]\nchain_id = 10\nupstreams = ['http://x:1']\ndefault = 'yes'\n",
     "networks[0].default: true or false"),
    ("[[networks]]\nchain_id = 10\nupstreams = ['ftp://x:1']\n",
     "networks[0] (chain 10): BIZRA_NODE_URL"),
    ("[[networks]]\nchain_id = 10\nupstreams = ['http://x:1']\nfinality_depth = -1\n",
     "networks[0] (chain 10): FINALITY_DEPTH"),
    ("[[networks]]\nchain_id = 10\nupstreams = ['http://x:1']\nttl_final = [1]\n",
     "networks[0].ttl_final: a single value"),
    # TOML's true is not a number: pydantic would take it as 1 (a finality depth of 1)
    ("[[networks]]\nchain_id = 10\nupstreams = ['http://x:1']\nfinality_depth = true\n",
     "networks[0].finality_depth: a number, not true"),
    ("ttl_final = false\n" + TWO, "ttl_final: a number, not false"),
    ("[[networks]]\nchain_id = 10\nupstreams = ['http://x:1']\nanchor_quorum = true\n",
     "networks[0].anchor_quorum: a number, not true"),
    # one server twice would vouch for itself toward anchor_quorum
    ("[[networks]]\nchain_id = 10\nupstreams = ['http://x:1', 'http://X:1/']\n",
     "networks[0] (chain 10): BIZRA_NODE_URL: an upstream is listed twice"),
    ("[[networks\nchain_id = 10\n", "not valid TOML"),
    ('anchor_checkpoint = "1:0x' + "ab" * 32 + '"\n' + TWO,
     "anchor_checkpoint names one chain's anchor"),
    ('beacon_api_urls = ["http://beacon:5052"]\n' + TWO,
     "beacon_api_urls names one chain's anchor"),
])
def test_a_bad_file_is_refused_naming_the_key(tmp_path: Path, text: str, said: str) -> None:
    assert said in refusal(tmp_path, text)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read"):
        load_networks(path=str(tmp_path / "absent.toml"))


def test_serve_with_a_bad_file_exits_with_its_message(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, TWO + "default = true\n")
    assert main(["serve", "--config", path]) == 2
    assert "one default network" in capsys.readouterr().err


def test_the_example_file_loads() -> None:
    networks = load_networks(path=str(ROOT / "bizra-node.example.toml"))
    assert len(networks.chain_ids) >= 2


def test_an_anchor_in_the_environment_is_refused_with_a_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEACON_API_URLS", "http://beacon:5052")
    assert "BEACON_API_URLS is set in the environment" in refusal(tmp_path, TWO)


def test_each_network_has_its_own_anchor(tmp_path: Path) -> None:
    pinned = "5:0x" + "ab" * 32
    text = TWO + f'anchor_checkpoint = "{pinned}"\n'
    default, other = load_networks(path=write(tmp_path, text)).settings
    assert (default.anchor_checkpoint, other.anchor_checkpoint) == ("", pinned)


def test_a_file_of_one_network_is_a_one_network_node(tmp_path: Path) -> None:
    from bizra_node.app import Node

    text = "[[networks]]\nchain_id = 10\nupstreams = ['http://127.0.0.1:9']\n"
    networks = load_networks(path=write(tmp_path, text))
    settings = networks.default.model_copy(update={"db_enabled": False})
    node = Node(settings, networks=(settings,))
    assert [n.chain_id for n in node.networks] == [10]
    assert node.upstreams.names == ["http://127.0.0.1:9"]  # no chain id before it
    assert "network" not in node.metrics.cache_hits.labelnames
    paths = {r.path for r in node.dispatcher.router.routes}
    assert {"/rpc", "/rpc/10", "/api/v1/validate/transaction",
            "/api/v1/10/validate/transaction", "/api/v1/10/validations"} <= paths
    assert "/ready/{chainId}" not in paths
