"""Our SSZ against the consensus spec's (remerkleable): random light-client containers
of every fork, both presets, serialized by the spec, decode to the same values and hash
to the same roots with our schemas; malformed bytes and JSON are refused with the
field's path."""

from __future__ import annotations

import json
from pathlib import Path
from random import Random
from typing import Any

import pytest
from eth_consensus_specs.altair import mainnet as altair_mainnet
from eth_consensus_specs.bellatrix import minimal as bellatrix_minimal
from eth_consensus_specs.capella import mainnet as capella_mainnet
from eth_consensus_specs.debug.random_value import RandomizationMode, get_random_ssz_object
from eth_consensus_specs.deneb import mainnet as deneb_mainnet
from eth_consensus_specs.electra import mainnet as electra_mainnet
from eth_consensus_specs.electra import minimal as electra_minimal
from eth_consensus_specs.fulu import mainnet as fulu_mainnet

from bizra_node.consensus import Fork
from bizra_node.consensus.containers import BEACON_BLOCK_HEADER, EXECUTION_CAPELLA, schemas
from bizra_node.consensus.ssz import (
    UINT64,
    Bitvector,
    ByteList,
    SszError,
    is_valid_merkle_branch,
    merkleize,
)

MAINNET = Path(__file__).resolve().parents[2] / "fixtures" / "consensus" / "mainnet"
SPECS = [(Fork.ALTAIR, altair_mainnet), (Fork.BELLATRIX, bellatrix_minimal),
         (Fork.CAPELLA, capella_mainnet), (Fork.DENEB, deneb_mainnet),
         (Fork.ELECTRA, electra_mainnet), (Fork.ELECTRA, electra_minimal),
         (Fork.FULU, fulu_mainnet)]
KINDS = {"bootstrap": "LightClientBootstrap", "update": "LightClientUpdate",
         "finality_update": "LightClientFinalityUpdate",
         "optimistic_update": "LightClientOptimisticUpdate", "header": "LightClientHeader",
         "sync_committee": "SyncCommittee"}
MODES = [RandomizationMode.mode_random, RandomizationMode.mode_zero,
         RandomizationMode.mode_max, RandomizationMode.mode_max_count]


def _random(spec: Any, name: str, seed: int, mode: RandomizationMode) -> Any:
    return get_random_ssz_object(Random(seed), getattr(spec, name), max_bytes_length=1000,
                                 max_list_length=1000, mode=mode, chaos=False)


def _ids(value: Any) -> str:
    return f"{value[0].key}-{value[1].config.PRESET_BASE}" if isinstance(value, tuple) else str(value)


@pytest.mark.parametrize("fork_spec", SPECS, ids=_ids)
@pytest.mark.parametrize("kind", list(KINDS))
def test_random_containers_decode_and_hash_as_the_spec_does(fork_spec: tuple[Fork, Any],
                                                             kind: str) -> None:
    fork, spec = fork_spec
    ours = getattr(schemas(fork, int(spec.SYNC_COMMITTEE_SIZE)), kind)
    for seed, mode in enumerate(MODES * 2):
        value = _random(spec, KINDS[kind], seed, mode)
        decoded = ours.decode(bytes(value.encode_bytes()))
        assert ours.hash_tree_root(decoded) == bytes(value.hash_tree_root()), (seed, mode)


def test_the_execution_header_and_beacon_header_roots_match_the_spec() -> None:
    for seed in range(4):
        header = _random(capella_mainnet, "LightClientHeader", seed, RandomizationMode.mode_random)
        ours = schemas(Fork.CAPELLA, 512).header.decode(bytes(header.encode_bytes()))
        assert EXECUTION_CAPELLA.hash_tree_root(ours.execution) == \
            bytes(header.execution.hash_tree_root())
        assert BEACON_BLOCK_HEADER.hash_tree_root(ours.beacon) == \
            bytes(header.beacon.hash_tree_root())


def test_merkle_branches_agree_with_the_spec() -> None:
    spec = electra_minimal
    leaves = [bytes([i]) * 32 for i in range(13)]
    root = merkleize(leaves)
    for index in range(16):
        # build the branch the slow way, then check it both ways
        layer = [*leaves, *[bytes(32)] * 3]
        proof = []
        i = index
        while len(layer) > 1:
            proof.append(layer[i ^ 1])
            layer = [spec.hash(layer[j] + layer[j + 1]) for j in range(0, len(layer), 2)]
            i //= 2
        leaf = leaves[index] if index < len(leaves) else bytes(32)
        assert is_valid_merkle_branch(leaf, proof, 4, index, root)
        assert spec.is_valid_merkle_branch(leaf, proof, 4, index, root)
        if index < len(leaves) - 1:  # a distinct neighbour: the branch proves one place only
            assert not is_valid_merkle_branch(leaf, proof, 4, index ^ 1, root)


def test_truncated_and_padded_bytes_are_refused() -> None:
    fixed = BEACON_BLOCK_HEADER
    header = bytes(_random(electra_minimal, "BeaconBlockHeader", 1,
                           RandomizationMode.mode_random).encode_bytes())
    for bad in (header[:-1], header + b"\0", b""):
        with pytest.raises(SszError):
            fixed.decode(bad)
    schema = schemas(Fork.ELECTRA, 32).update
    data = bytes(_random(electra_minimal, "LightClientUpdate", 1,
                         RandomizationMode.mode_random).encode_bytes())
    for bad in (data[:3], data[:100], b"", data + bytes(40)):  # the last: extra_data > 32
        with pytest.raises(SszError):
            schema.decode(bad)
    wrong_offset = (int.from_bytes(data[:4], "little") + 1).to_bytes(4, "little") + data[4:]
    with pytest.raises(SszError, match="offset"):
        schema.decode(wrong_offset)


def test_bits_past_a_bitvectors_length_are_refused() -> None:
    with pytest.raises(SszError, match="past the length"):
        Bitvector(4).decode(b"\x10")
    assert Bitvector(4).decode(b"\x0f") == b"\x0f"
    with pytest.raises(SszError, match="exceed"):
        ByteList(32).decode(bytes(33))


@pytest.mark.parametrize("bad", [True, -1, "1" * 79, "0x10", "\u0661", 2**64, "18446744073709551616",
                                 None, 1.5])
def test_json_integers_are_decimal_and_in_range(bad: object) -> None:
    with pytest.raises(SszError):
        UINT64.from_json(bad, "$.slot")


def test_json_errors_name_the_field() -> None:
    schema = schemas(Fork.CAPELLA, 512).header
    with pytest.raises(SszError, match=r"\$\.beacon\.slot: missing"):
        schema.from_json({"beacon": {}, "execution": {}, "execution_branch": []})
    header = json.loads((MAINNET / "bootstrap.json").read_text())["data"]["header"]
    assert schema.from_json(header).beacon.slot == 7069376
    header["execution_branch"].pop()
    with pytest.raises(SszError, match=r"execution_branch: expected a list of 4"):
        schema.from_json(header)
    with pytest.raises(SszError, match="not hex"):
        BEACON_BLOCK_HEADER.from_json({"slot": "1", "proposer_index": "2",
                                       "parent_root": "0x" + "zz" * 32,
                                       "state_root": "0x" + "00" * 32,
                                       "body_root": "0x" + "00" * 32})
