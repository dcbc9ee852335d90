"""Networks: the built-in fork schedules give the fork digests the networks publish,
the signing domain is the spec's, and a custom network is read from its config
(config.yaml's integers or the beacon API's strings)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from eth_consensus_specs.electra import mainnet as spec

from bizra_node.consensus import NETWORKS, Fork, NetworkConfig, network
from bizra_node.consensus.forks import (
    FAR_FUTURE_EPOCH,
    MINIMAL_PRESET,
    compute_domain,
    compute_signing_root,
)

VECTORS = Path(__file__).resolve().parents[2] / "fixtures" / "consensus" / "spec"

# The fork digests mainnet's peers advertise (ENR eth2 field), one per fork.
MAINNET_DIGESTS = {Fork.ALTAIR: "afcaaba0", Fork.BELLATRIX: "4a26c58b",
                   Fork.CAPELLA: "bba4da96", Fork.DENEB: "6a95a1a9", Fork.ELECTRA: "ad532ceb"}


def test_mainnet_fork_digests_are_the_published_ones() -> None:
    mainnet = network("mainnet")
    assert {f: mainnet.fork_digest(f).hex() for f in MAINNET_DIGESTS} == MAINNET_DIGESTS


def test_the_fork_at_each_boundary() -> None:
    mainnet = network("mainnet")
    assert mainnet.fork_at_epoch(74239) == Fork.PHASE0
    assert mainnet.fork_at_epoch(74240) == Fork.ALTAIR
    assert mainnet.fork_at_slot(194048 * 32 - 1) == Fork.BELLATRIX
    assert mainnet.fork_at_slot(194048 * 32) == Fork.CAPELLA
    assert mainnet.fork_at_epoch(411392) == Fork.FULU
    assert mainnet.period_at_slot(7069376) == 862
    assert mainnet.period_start_slot(863) == 863 * 8192


@pytest.mark.parametrize("name", list(NETWORKS))
def test_the_sync_committee_domain_is_the_specs(name: str) -> None:
    net = NETWORKS[name]
    for fork in net.scheduled():
        slot = net.epochs[fork] * 32 + 1  # signed in the fork's first epoch: its version
        # (of the latest fork scheduled at that epoch: several start at 0 on testnets)
        version = net.versions[net.fork_at_epoch(net.epochs[fork])]
        ours = net.sync_committee_domain(slot)
        theirs = spec.compute_domain(spec.DOMAIN_SYNC_COMMITTEE, version,
                                     net.genesis_validators_root)
        assert ours == bytes(theirs), (name, fork)
    # the slot before a fork's first is still signed with the previous fork's version
    first = net.epochs[Fork.CAPELLA] * 32
    if first:
        assert net.sync_committee_domain(first) == compute_domain(
            bytes.fromhex("07000000"), net.versions[Fork.BELLATRIX], net.genesis_validators_root)


def test_the_signing_root_is_the_specs() -> None:
    header = spec.BeaconBlockHeader(slot=5, proposer_index=7, parent_root=b"\x01" * 32)
    domain = spec.compute_domain(spec.DOMAIN_SYNC_COMMITTEE, spec.config.ELECTRA_FORK_VERSION,
                                 b"\x02" * 32)
    assert compute_signing_root(bytes(header.hash_tree_root()), bytes(domain)) == \
        bytes(spec.compute_signing_root(header, domain))


def test_the_clock() -> None:
    mainnet = network("mainnet")
    assert mainnet.slot_at_time(1606824023) == 0
    assert mainnet.slot_at_time(1606824023 + 12 * 100 + 11) == 100
    assert mainnet.slot_at_time(0) == 0


def test_a_custom_network_from_a_devnets_config_yaml() -> None:
    """yaml reads 0x00000001 as the integer 1: both forms are fork versions."""
    mapping = yaml.safe_load((VECTORS / "electra/light_client_sync/config.yaml").read_text())
    assert mapping["GENESIS_FORK_VERSION"] == 1
    net = NetworkConfig.from_config(mapping, genesis_time=10, genesis_validators_root=bytes(32))
    assert net.preset == MINIMAL_PRESET and net.seconds_per_slot == 6
    assert net.versions[Fork.ELECTRA] == bytes.fromhex("05000001")
    assert net.epochs[Fork.ELECTRA] == 0 and net.epochs[Fork.FULU] == FAR_FUTURE_EPOCH
    assert net.scheduled()[-1] == Fork.ELECTRA
    assert net.fork_of_digest(bytes.fromhex("9acb230d")) is None  # its digest uses its root
    deneb = NetworkConfig.from_config(
        yaml.safe_load((VECTORS / "deneb/light_client_sync/config.yaml").read_text()),
        genesis_time=0, genesis_validators_root=bytes.fromhex(
            "0a08c27fe4ece2483f9e581f78c66379a06f96e9c24cd1390594ff939b26f95b"))
    assert deneb.fork_of_digest(bytes.fromhex("0cbce901")) == Fork.DENEB


def test_a_custom_network_from_the_beacon_apis_strings() -> None:
    mapping = {"PRESET_BASE": "mainnet", "SLOT_DURATION_MS": "12000",
               "GENESIS_FORK_VERSION": "0x10000910", "ALTAIR_FORK_VERSION": "0x20000910",
               "ALTAIR_FORK_EPOCH": "0", "BELLATRIX_FORK_VERSION": "0x30000910",
               "BELLATRIX_FORK_EPOCH": "0", "CAPELLA_FORK_VERSION": "0x40000910",
               "CAPELLA_FORK_EPOCH": "4"}
    net = NetworkConfig.from_config(mapping, genesis_time=1, genesis_validators_root=bytes(32),
                                    name="devnet")
    assert (net.name, net.seconds_per_slot) == ("devnet", 12)
    assert net.scheduled() == [Fork.ALTAIR, Fork.BELLATRIX, Fork.CAPELLA]
    assert (net.fork_at_epoch(3), net.fork_at_epoch(4)) == (Fork.BELLATRIX, Fork.CAPELLA)


@pytest.mark.parametrize("change", [
    {"PRESET_BASE": "gnosis"},
    {"GENESIS_FORK_VERSION": "0x0001"},
    {"GENESIS_FORK_VERSION": True},
    {"ALTAIR_FORK_EPOCH": "soon"},
    {"SECONDS_PER_SLOT": None, "SLOT_DURATION_MS": None},
    {"ALTAIR_FORK_EPOCH": "5", "CAPELLA_FORK_EPOCH": "1"},  # epochs going backwards
    {"BELLATRIX_FORK_VERSION": None, "BELLATRIX_FORK_EPOCH": None},  # a fork left out
])
def test_a_bad_config_is_a_clear_error(change: dict[str, object]) -> None:
    """Each is refused (ValueError with the key), never a network with a wrong schedule."""
    mapping: dict[str, object] = {"PRESET_BASE": "minimal", "SECONDS_PER_SLOT": "6",
                                  "GENESIS_FORK_VERSION": "0x00000001",
                                  "ALTAIR_FORK_VERSION": "0x01000001", "ALTAIR_FORK_EPOCH": "0",
                                  "BELLATRIX_FORK_VERSION": "0x02000001",
                                  "BELLATRIX_FORK_EPOCH": "1",
                                  "CAPELLA_FORK_VERSION": "0x03000001",
                                  "CAPELLA_FORK_EPOCH": "2"}
    for key, value in change.items():
        if value is None:
            mapping.pop(key, None)
        else:
            mapping[key] = value
    with pytest.raises(ValueError):
        NetworkConfig.from_config(mapping, genesis_time=0, genesis_validators_root=bytes(32))


def test_an_unknown_network_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="mainnet, sepolia, holesky, hoodi"):
        network("goerli")


# -- BEACON_NETWORK: a built-in name, or a devnet's config file ------------------------------
SPEC_CONFIGS = Path(spec.__file__).resolve().parents[2] / "configs"


def _mainnet_file(tmp_path: Path, *, suffix: str = "", genesis: bool = True) -> Path:
    text = (SPEC_CONFIGS / "mainnet.yaml").read_text()
    if genesis:
        text += ("\nGENESIS_TIME: 1606824023\nGENESIS_VALIDATORS_ROOT: "
                 "0x4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95\n")
    path = tmp_path / f"config{suffix}.yaml"
    path.write_text(text)
    return path


def test_a_network_is_named_or_read_from_a_config_file(tmp_path: Path) -> None:
    from bizra_node.consensus import load_network

    assert load_network("hoodi") is NETWORKS["hoodi"]
    # the consensus specs' own config.yaml (nested BLOB_SCHEDULE and all), genesis added
    read = load_network(str(_mainnet_file(tmp_path)))
    mainnet = NETWORKS["mainnet"]
    assert (read.versions, read.epochs, read.genesis_time, read.genesis_validators_root,
            read.seconds_per_slot, read.preset) == (
        mainnet.versions, mainnet.epochs, mainnet.genesis_time,
        mainnet.genesis_validators_root, mainnet.seconds_per_slot, mainnet.preset)
    # the beacon API's /eth/v1/config/spec answer (strings), genesis added
    forks = {f"{fork.name}_FORK_{what}": value for fork in list(Fork)[1:] for what, value in (
        ("VERSION", "0x" + mainnet.versions[fork].hex()), ("EPOCH", str(mainnet.epochs[fork])))}
    as_json = tmp_path / "spec.json"
    as_json.write_text(json.dumps({"data": {
        "PRESET_BASE": "mainnet", "SECONDS_PER_SLOT": "12", "GENESIS_FORK_VERSION": "0x00000000",
        **forks, "GENESIS_TIME": "1606824023",
        "GENESIS_VALIDATORS_ROOT": "0x" + mainnet.genesis_validators_root.hex()}}))
    assert load_network(str(as_json)).versions == mainnet.versions


@pytest.mark.parametrize(("value", "says"), [
    ("goerli", "not a known network"),
    ("/nowhere/config.yaml", "cannot read"),
    ("{nogenesis}", "lacks GENESIS_TIME"),
    ("{badroot}", "GENESIS_VALIDATORS_ROOT is not"),
    ("{notjson}", "not valid JSON"),
    ("{notaline}", "not KEY: value"),
])
def test_a_bad_network_is_one_clear_error(tmp_path: Path, value: str, says: str) -> None:
    from bizra_node.consensus import load_network

    files = {"{nogenesis}": _mainnet_file(tmp_path, suffix="-a", genesis=False),
             "{badroot}": tmp_path / "bad-root.yaml", "{notjson}": tmp_path / "x.json",
             "{notaline}": tmp_path / "line.yaml"}
    files["{badroot}"].write_text("PRESET_BASE: mainnet\nGENESIS_TIME: 1\n"
                                  "GENESIS_VALIDATORS_ROOT: 0x12\n")
    files["{notjson}"].write_text("{not json")
    files["{notaline}"].write_text("PRESET_BASE mainnet\n")
    path = str(files.get(value, value))
    with pytest.raises(ValueError, match=says):
        load_network(path)
