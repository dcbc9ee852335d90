"""Upstream hex is read strictly: anything but plain 0x-hex is a named check failure."""

from __future__ import annotations

import pytest

from bizra_node.validation.trust import Check, TrustError
from bizra_node.validation.trust._hex import (
    as_bytes,
    as_int,
    as_object,
    field_bytes,
    field_int,
    field_list,
    field_opt_bytes,
)

C = Check.TX_FIELDS


@pytest.mark.parametrize("value, expected", [("0x0", 0), ("0x1", 1), ("0xff", 255),
                                             ("0xFF", 255), ("0x" + "f" * 64, 2**256 - 1)])
def test_quantities(value: str, expected: int) -> None:
    assert as_int(value, C, "x") == expected


@pytest.mark.parametrize("value", ["0x", "1", "ff", "0x1_0", "0x 1", " 0x1", "0x1 ", "-0x1",
                                   "+0x1", "0xg", "0x²", "0x" + "f" * 65, 1, None, True, [], b"0x1"])
def test_bad_quantities_are_the_check_failing(value: object) -> None:
    with pytest.raises(TrustError) as err:
        as_int(value, C, "nonce")
    assert err.value.check is C
    assert "nonce" in err.value.message


@pytest.mark.parametrize("value, expected", [("0x", b""), ("0x00", b"\x00"), ("0xAbcd", b"\xab\xcd")])
def test_data(value: str, expected: bytes) -> None:
    assert as_bytes(value, C, "x") == expected


@pytest.mark.parametrize("value", ["", "00", "0x0", "0xab c", "0xab cd", "0x zz", "0xgg", 5, None,
                                   ["0x00"], "0Xab"])
def test_bad_data(value: object) -> None:
    with pytest.raises(TrustError) as err:
        as_bytes(value, C, "input")
    assert err.value.check is C


def test_lengths_are_exact() -> None:
    assert as_bytes("0x" + "11" * 20, C, "to", 20) == b"\x11" * 20
    for bad in ("0x" + "11" * 19, "0x" + "11" * 21):
        with pytest.raises(TrustError, match="to has"):
            as_bytes(bad, C, "to", 20)


def test_fields_missing_null_and_wrong_shape() -> None:
    obj = {"a": "0x1", "n": None, "l": ["0x1"], "s": "0x12"}
    assert field_int(obj, "a", C) == 1
    assert field_list(obj, "l", C) == ["0x1"]
    assert field_opt_bytes(obj, "n", C) is None
    assert field_opt_bytes(obj, "missing", C) is None
    assert field_bytes(obj, "s", C) == b"\x12"
    for call in (lambda: field_int(obj, "missing", C), lambda: field_int(obj, "n", C),
                 lambda: field_list(obj, "a", C), lambda: field_bytes(obj, "l", C)):
        with pytest.raises(TrustError) as err:
            call()
        assert err.value.check is C


@pytest.mark.parametrize("value", [None, [], "x", 1, ["a"]])
def test_objects(value: object) -> None:
    with pytest.raises(TrustError, match="is not an object"):
        as_object(value, C, "transaction")
    assert as_object({"a": 1}, C, "x") == {"a": 1}


def test_error_message_is_bounded() -> None:
    with pytest.raises(TrustError) as err:
        as_int("z" * 10_000, C, "value")
    assert len(str(err.value)) < 200
