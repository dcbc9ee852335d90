"""Transactions of every type anvil mines: hash, signature and chain id, on real data,
checked against anvil's raw bytes, eth-keys and eth-account; each tampering caught by
the right check."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
import rlp
from eth_account import Account
from eth_hash.auto import keccak
from eth_keys import KeyAPI
from eth_keys.backends import CoinCurveECCBackend
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bizra_node.validation.trust import (
    Check,
    TrustError,
    Unprovable,
    decode_transaction,
    encode_transaction,
    recover_sender,
    signing_hash,
    transaction_hash,
    verify_transaction,
)
from bizra_node.validation.trust.transactions import SECP256K1_N
from tests.support.strategies import junk

from .conftest import KINDS, Chain, clone, fails

CHAIN = 31337
TYPES = {"legacy": 0, "legacy_pre155": 0, "access_list": 1, "dynamic_fee": 2, "logs": 2,
         "create": 2, "reverted": 2, "blob": 3, "set_code": 4}


def _tx(devnet: Chain, kind: str) -> dict[str, Any]:
    return dict(devnet.call("eth_getTransactionByHash", devnet.all_txs()[kind]))


def _rehash(tx: dict[str, Any]) -> dict[str, Any]:
    """What a careful liar does after editing the fields: fix the claimed hash."""
    tx["hash"] = "0x" + transaction_hash(tx).hex()
    return tx


@pytest.mark.parametrize("kind", KINDS + [f"mixed_{k}" for k in KINDS])
def test_every_type_verifies(trust_chain: Chain, kind: str) -> None:
    tx = _tx(trust_chain, kind)
    tx_hash = bytes.fromhex(tx["hash"][2:])
    verified = verify_transaction(tx, CHAIN, expected_hash=tx_hash)
    assert verified.hash == tx_hash
    assert verified.signed.type == TYPES[kind.removeprefix("mixed_")]
    assert "0x" + verified.sender.hex() == tx["from"].lower()
    if kind.endswith("legacy_pre155"):
        assert verified.chain_id is None
        assert Check.TX_CHAIN_ID not in verified.checks
        verify_transaction(tx, 1)  # valid on any chain: that is what no chain id means
    else:
        assert verified.chain_id == CHAIN
        assert verified.checks[-1] is Check.TX_CHAIN_ID


@pytest.mark.parametrize("kind", KINDS)
def test_encoding_is_anvils_raw_transaction(trust_chain: Chain, kind: str) -> None:
    tx = _tx(trust_chain, kind)
    raw = bytes.fromhex(trust_chain.call("eth_getRawTransactionByHash", tx["hash"])[2:])
    ours = decode_transaction(tx).encoding
    if kind == "blob":  # anvil answers the pooled form: 0x03 || rlp([payload, 1, sidecar...])
        assert raw[0] == 3
        assert b"\x03" + rlp.encode(rlp.decode(raw[1:])[0]) == ours
    else:
        assert raw == ours


@pytest.mark.parametrize("kind", KINDS)
def test_sender_is_what_eth_keys_and_eth_account_recover(trust_chain: Chain,
                                                         kind: str) -> None:
    tx = _tx(trust_chain, kind)
    signed = decode_transaction(tx)
    keys = KeyAPI(CoinCurveECCBackend)
    reference = keys.Signature(vrs=(signed.y_parity, signed.r, signed.s)) \
        .recover_public_key_from_msg_hash(signing_hash(tx)).to_canonical_address()
    assert recover_sender(tx) == reference == bytes.fromhex(tx["from"][2:])
    assert Account.recover_transaction(signed.encoding).lower() == tx["from"].lower()
    assert encode_transaction(tx) == signed.encoding


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.integers(min_value=1, max_value=2**64))
def test_recovery_agrees_with_eth_keys_on_random_keys(msg: bytes, secret: int) -> None:
    keys = KeyAPI(CoinCurveECCBackend)
    key = keys.PrivateKey(secret.to_bytes(32, "big"))
    sig = key.sign_msg_hash(msg)
    from bizra_node.validation.trust import recover_address

    assert recover_address(msg, sig.v, sig.r, sig.s) == key.public_key.to_canonical_address()


@pytest.mark.parametrize("field, value", [("value", "0x12345"), ("to", "0x" + "66" * 20),
                                          ("input", "0xdeadbeef"), ("nonce", "0x99"),
                                          ("gas", "0x5209"), ("r", "0x1234")])
@pytest.mark.parametrize("kind", ["legacy", "dynamic_fee", "blob", "set_code"])
def test_changed_fields_break_the_hash(trust_chain: Chain, kind: str, field: str,
                                       value: str) -> None:
    tx = _tx(trust_chain, kind)
    tx[field] = value
    fails(Check.TX_HASH, verify_transaction, tx, CHAIN)


@pytest.mark.parametrize("kind", ["legacy", "access_list", "set_code"])
def test_changed_signature_with_the_hash_fixed_recovers_someone_else(trust_chain: Chain,
                                                                     kind: str) -> None:
    tx = _tx(trust_chain, kind)
    tx["r"] = hex(int(tx["r"], 16) ^ 1)
    err = fails(Check.TX_SIGNATURE, verify_transaction, _rehash(tx), CHAIN)
    assert "recover" in err.message


def test_changed_from_is_the_signature_check(trust_chain: Chain) -> None:
    tx = _tx(trust_chain, "dynamic_fee")
    tx["from"] = "0x" + "77" * 20
    err = fails(Check.TX_SIGNATURE, verify_transaction, tx, CHAIN)
    assert "not the claimed from" in err.message


def test_fields_changed_and_rehashed_recover_someone_else(trust_chain: Chain) -> None:
    """A liar who changes the value and fixes the hash cannot fix the signature."""
    tx = _tx(trust_chain, "dynamic_fee")
    tx["value"] = hex(int(tx["value"], 16) * 1000)
    fails(Check.TX_SIGNATURE, verify_transaction, _rehash(tx), CHAIN)


def test_fabricated_hash(trust_chain: Chain) -> None:
    """A transaction served for a hash that does not exist: its fields hash elsewhere."""
    tx = _tx(trust_chain, "legacy")
    made_up = keccak(b"no such transaction")
    tx["hash"] = "0x" + made_up.hex()
    fails(Check.TX_HASH, verify_transaction, tx, CHAIN, expected_hash=made_up)


def test_another_transaction_than_asked(trust_chain: Chain) -> None:
    tx = _tx(trust_chain, "legacy")
    err = fails(Check.TX_HASH, verify_transaction, tx, CHAIN, expected_hash=b"\x01" * 32)
    assert "asked for" in err.message


def test_high_s_is_refused(trust_chain: Chain) -> None:
    """(r, n - s) with the parity flipped is the same signer's signature, but EIP-2
    forbids the high-s form: a malleated copy must not verify."""
    tx = _tx(trust_chain, "dynamic_fee")
    tx["s"] = hex(SECP256K1_N - int(tx["s"], 16))
    tx["yParity"] = tx["v"] = hex(1 - int(tx["yParity"], 16))
    err = fails(Check.TX_SIGNATURE, verify_transaction, _rehash(tx), CHAIN)
    assert "high s" in err.message


def test_high_s_legacy(trust_chain: Chain) -> None:
    tx = _tx(trust_chain, "legacy_pre155")
    tx["s"] = hex(SECP256K1_N - int(tx["s"], 16))
    tx["v"] = hex(55 - int(tx["v"], 16))  # 27 <-> 28
    fails(Check.TX_SIGNATURE, verify_transaction, _rehash(tx), CHAIN)


@pytest.mark.parametrize("kind", ["legacy", "access_list", "dynamic_fee", "blob", "set_code"])
def test_other_network(trust_chain: Chain, kind: str) -> None:
    err = fails(Check.TX_CHAIN_ID, verify_transaction, _tx(trust_chain, kind), 1)
    assert "31337" in err.message


def test_legacy_chain_id_field_must_match_v(trust_chain: Chain) -> None:
    tx = _tx(trust_chain, "legacy")
    tx["chainId"] = "0x1"
    fails(Check.TX_CHAIN_ID, verify_transaction, tx, CHAIN)


@pytest.mark.parametrize("edit, check", [
    ({"type": "0x7e"}, Check.TX_FIELDS),
    ({"type": "0x80"}, Check.TX_FIELDS),
    ({"type": 2}, Check.TX_FIELDS),
    ({"nonce": None}, Check.TX_FIELDS),
    ({"to": "0x1234"}, Check.TX_FIELDS),
    ({"accessList": "none"}, Check.TX_FIELDS),
    ({"accessList": [{"address": "0x" + "11" * 20}]}, Check.TX_FIELDS),
    ({"accessList": [{"address": "0x" + "11" * 20, "storageKeys": ["0x01"]}]}, Check.TX_FIELDS),
    ({"yParity": "0x2", "v": "0x2"}, Check.TX_SIGNATURE),
    ({"yParity": "0x0", "v": "0x1"}, Check.TX_SIGNATURE),
    ({"yParity": None, "v": None}, Check.TX_FIELDS),
    ({"r": "0x0"}, Check.TX_SIGNATURE),
    ({"s": hex(SECP256K1_N)}, Check.TX_SIGNATURE),
    ({"hash": "0x12"}, Check.TX_HASH),
    ({"from": None}, Check.TX_FIELDS),
])
def test_malformed_dynamic_fee(trust_chain: Chain, edit: dict[str, Any],
                               check: Check) -> None:
    tx = _tx(trust_chain, "dynamic_fee")
    tx.update(edit)
    if check is Check.TX_SIGNATURE:  # a liar fixes the hash where the fields allow it
        with contextlib.suppress(TrustError):
            _rehash(tx)
    fails(check, verify_transaction, tx, CHAIN)


def test_malformed_per_type(trust_chain: Chain) -> None:
    legacy = _tx(trust_chain, "legacy")
    fails(Check.TX_SIGNATURE, verify_transaction, {**legacy, "v": "0x1d"}, CHAIN)
    fails(Check.TX_FIELDS, verify_transaction, {**legacy, "gasPrice": None}, CHAIN)
    blob = _tx(trust_chain, "blob")
    fails(Check.TX_FIELDS, verify_transaction, {**blob, "to": None}, CHAIN)
    fails(Check.TX_FIELDS, verify_transaction, {**blob, "blobVersionedHashes": ["0x01"]}, CHAIN)
    auth = _tx(trust_chain, "set_code")
    broken = clone(auth)
    del broken["authorizationList"][0]["nonce"]
    fails(Check.TX_FIELDS, verify_transaction, broken, CHAIN)
    fails(Check.TX_FIELDS, verify_transaction, {**auth, "authorizationList": {}}, CHAIN)
    fails(Check.TX_FIELDS, verify_transaction, {**auth, "authorizationList": ["x"]}, CHAIN)
    fails(Check.TX_FIELDS, verify_transaction, None, CHAIN)
    fails(Check.TX_FIELDS, verify_transaction, [legacy], CHAIN)


def test_input_may_be_called_data(trust_chain: Chain) -> None:
    tx = _tx(trust_chain, "logs")
    tx["data"] = tx.pop("input")
    verify_transaction(tx, CHAIN)




@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(KINDS), data=st.data())
def test_any_damage_is_a_trust_error(trust_chain: Chain, kind: str, data: st.DataObject) -> None:
    """Whatever an upstream sends, the outcome is a verdict, a TrustError or Unprovable
    (a type made one the node cannot encode): never a KeyError, ValueError, IndexError
    or TypeError escaping."""
    tx = clone(_cached(trust_chain, kind))
    for _ in range(data.draw(st.integers(1, 3))):
        key = data.draw(st.sampled_from(sorted(tx)))
        if data.draw(st.booleans()):
            del tx[key]
        else:
            tx[key] = data.draw(junk)
    with contextlib.suppress(TrustError, Unprovable):
        verify_transaction(tx, CHAIN)


_CACHE: dict[str, dict[str, Any]] = {}


def _cached(devnet: Chain, kind: str) -> dict[str, Any]:
    if kind not in _CACHE:
        _CACHE[kind] = _tx(devnet, kind)
    return _CACHE[kind]


ARBITRUM_SHAPED = {
    "type": "0x6a", "hash": "0x" + "ab" * 32, "from": "0x00000000000000000000000000000000000a4b05",
    "to": "0x00000000000000000000000000000000000a4b05", "gas": "0x0", "gasPrice": "0x0",
    "input": "0x6bf6a42d", "nonce": "0x0", "value": "0x0", "chainId": "0xa4b1",
    "v": "0x0", "r": "0x0", "s": "0x0"}
"""An Arbitrum internal transaction as Nitro serves one (the fields constructed for the
test, the shape of a real one): nothing in it can be checked without Nitro's encoding."""


@pytest.mark.parametrize("type_", [0x05, 0x64, 0x65, 0x66, 0x68, 0x69, 0x6A, 0x7D, 0x7F])
def test_unknown_types_are_unprovable_not_invalid(type_: int) -> None:
    """Arbitrum's 0x64-0x6A and any type the node has no encoding for: Unprovable (served
    unverified, with the type named), never a failed check (refused as invalid)."""
    tx = {**ARBITRUM_SHAPED, "type": hex(type_)}
    with pytest.raises(Unprovable) as err:
        verify_transaction(tx, CHAIN)
    assert f"{type_:#04x}" in err.value.reason
    assert ("Arbitrum" in err.value.reason) == (0x64 <= type_ <= 0x6A)
    assert not isinstance(err.value, TrustError)


@pytest.mark.parametrize("type_", ["0x80", "0xff", "0x100"])
def test_types_past_eip2718_are_malformed(type_: str) -> None:
    fails(Check.TX_FIELDS, verify_transaction, {**ARBITRUM_SHAPED, "type": type_}, CHAIN)
