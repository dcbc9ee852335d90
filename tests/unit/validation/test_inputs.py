from __future__ import annotations

import pytest

from bizra_node.errors import ValidationError
from bizra_node.validation import parse_address, parse_block_ref, parse_tx_hash

# Test vectors from EIP-55.
EIP55 = [
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]


@pytest.mark.parametrize("address", EIP55)
def test_checksummed_addresses(address: str) -> None:
    assert parse_address(address) == address
    assert parse_address(address.lower()) == address
    assert parse_address("0x" + address[2:].upper()) == address


def test_bad_checksum() -> None:
    with pytest.raises(ValidationError) as err:
        parse_address("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD")
    assert err.value.details == {"field": "address", "reason": "EIP-55 checksum mismatch",
                                 "value": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"}


def test_hash_is_lower_cased() -> None:
    assert parse_tx_hash("0X" + "AB" * 32) == "0x" + "ab" * 32


@pytest.mark.parametrize(("value", "expected"), [
    (0, 0), (17, 17), ("latest", "latest"), ("LATEST", "latest"), ("finalized", "finalized"),
    ("42", 42), ("0x2a", 42), (2**63 - 1, 2**63 - 1),
])
def test_block_refs(value: object, expected: object) -> None:
    assert parse_block_ref(value) == expected


@pytest.mark.parametrize("value", [-1, 2**63, True, 1.0, None, "", "pending", "0xzz", [1]])
def test_bad_block_refs(value: object) -> None:
    with pytest.raises(ValidationError):
        parse_block_ref(value)
