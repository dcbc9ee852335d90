"""Numbers in upstream answers are range-checked where they enter (chain/bounds.py):
block numbers, gas, indexes and chain ids below 2**64, quantities below 2**256; past
them, or not a quantity, is an IntegrityFailure 'bounds'; everything honest passes."""

from __future__ import annotations

from typing import Any

import pytest

from bizra_node.chain.bounds import BOUNDS, U64, U256, check_answer, check_header, quantity_ok
from bizra_node.errors import IntegrityFailure
from bizra_node.jsonrpc import Call, RpcError

HUGE = "0x" + "f" * 400  # a 1 600-bit number
BLOCK = {"number": "0x10", "hash": "0x" + "ab" * 32, "gasLimit": "0x1c9c380",
         "gasUsed": "0x5208", "timestamp": "0x6560a1b0", "baseFeePerGas": "0x7",
         "size": "0x2a0", "difficulty": "0x0", "transactions": []}
TX = {"blockNumber": "0x10", "transactionIndex": "0x0", "nonce": "0x3", "gas": "0x5208",
      "value": "0x" + "f" * 64, "gasPrice": "0x3b9aca00", "maxFeePerGas": "0x77359400",
      "maxPriorityFeePerGas": "0x1", "chainId": "0x7a69", "type": "0x2", "v": "0x1",
      "r": "0x" + "12" * 32, "s": "0x" + "34" * 32, "yParity": "0x1",
      "authorizationList": [{"chainId": "0x0", "nonce": "0x1", "yParity": "0x0",
                             "r": "0x1", "s": "0x2", "address": "0x" + "11" * 20}]}
RECEIPT = {"blockNumber": "0x10", "transactionIndex": "0x0", "cumulativeGasUsed": "0x5208",
           "gasUsed": "0x5208", "status": "0x1", "type": "0x2", "effectiveGasPrice": "0x8",
           "blockTimestamp": 1700000000,  # anvil's receipts: an integer
           "logs": [{"blockNumber": "0x10", "logIndex": "0x0", "transactionIndex": "0x0",
                     "data": "0x" + "ff" * 300}]}


def refused(call: Call, answer: Any) -> IntegrityFailure:
    with pytest.raises(IntegrityFailure) as info:
        check_answer(call, answer)
    assert info.value.check == BOUNDS and info.value.kind == "integrity"
    assert not info.value.retryable  # that upstream is not asked again for it
    return info.value


@pytest.mark.parametrize("value, bits, ok", [
    ("0x0", U64, True), ("0x" + "f" * 16, U64, True), ("0x1" + "0" * 16, U64, False),
    ("0x" + "f" * 64, U256, True), ("0x1" + "0" * 64, U256, False), (HUGE, U256, False),
    ("0x", U64, False), ("12", U64, False), ("0x1_0", U64, False), (" 0x1", U64, False),
    ("-0x1", U64, False), ("0xg", U64, False), (5, U64, True), (2**64, U64, False),
    (-1, U64, False), (True, U64, False), (1.5, U64, False), (None, U64, False),
    ([], U64, False)])
def test_quantity(value: Any, bits: int, ok: bool) -> None:
    assert quantity_ok(value, bits) is ok


@pytest.mark.parametrize("method", ["eth_blockNumber", "eth_chainId", "eth_estimateGas",
                                    "eth_getTransactionCount",
                                    "eth_getBlockTransactionCountByNumber"])
def test_u64_answers(method: str) -> None:
    check_answer(Call(method), "0x" + "f" * 16)
    error = refused(Call(method), "0x1" + "0" * 16)
    assert method in error.message
    refused(Call(method), HUGE)
    refused(Call(method), True)


def test_the_message_names_the_field_and_shortens_the_value() -> None:
    error = refused(Call("eth_blockNumber"), HUGE)
    assert error.message.startswith("eth_blockNumber is out of range or not a quantity")
    assert "(402 characters)" in error.message and len(error.message) < 150


@pytest.mark.parametrize("method", ["eth_gasPrice", "eth_getBalance", "eth_maxPriorityFeePerGas",
                                    "eth_blobBaseFee"])
def test_u256_answers(method: str) -> None:
    check_answer(Call(method), "0x" + "f" * 64)
    refused(Call(method), "0x1" + "0" * 64)


def test_net_version_is_a_decimal_below_2_64() -> None:
    check_answer(Call("net_version"), "31337")
    check_answer(Call("net_version"), str(2**64 - 1))
    for bad in (str(2**64), "9" * 1000, "0x7a69", "", "²"):
        refused(Call("net_version"), bad)


def test_errors_nulls_and_other_methods_pass() -> None:
    check_answer(Call("eth_blockNumber"), RpcError(-32000, "no"))
    check_answer(Call("eth_getBlockByNumber", ("0x1", False)), None)
    check_answer(Call("eth_call"), "0x" + "ff" * 5000)  # data, not a number
    check_answer(Call("eth_getStorageAt"), "0x" + "ff" * 32)
    check_answer(Call("eth_syncing"), False)
    check_answer(Call("eth_getBlockByNumber", ("latest", False)), "not an object")


def test_honest_objects_pass() -> None:
    block = {**BLOCK, "transactions": [TX, "0x" + "cd" * 32]}
    check_answer(Call("eth_getBlockByNumber", ("0x10", True)), block)
    check_header(BLOCK)
    check_answer(Call("eth_getTransactionByHash"), TX)
    check_answer(Call("eth_getTransactionReceipt"), RECEIPT)
    check_answer(Call("eth_getBlockReceipts"), [RECEIPT, RECEIPT])
    check_answer(Call("eth_getLogs"), RECEIPT["logs"])
    check_answer(Call("eth_getFilterChanges"), ["0x" + "cd" * 32])
    check_answer(Call("eth_getProof"), {"balance": "0x" + "f" * 64, "nonce": "0x1"})
    check_answer(Call("eth_feeHistory"), {"oldestBlock": "0x1", "baseFeePerGas": ["0x1"],
                                          "gasUsedRatio": [0.5], "reward": [["0x1", "0x2"]]})
    check_answer(Call("eth_syncing"), {"startingBlock": "0x0", "currentBlock": "0x1",
                                       "highestBlock": "0x2"})


@pytest.mark.parametrize("method, answer, where", [
    ("eth_getBlockByNumber", {**BLOCK, "number": HUGE}, "eth_getBlockByNumber.number"),
    ("eth_getBlockByHash", {**BLOCK, "gasLimit": "0x1" + "0" * 16}, "gasLimit"),
    ("eth_getBlockByNumber", {**BLOCK, "timestamp": 2**64}, "timestamp"),
    ("eth_getBlockByNumber", {**BLOCK, "baseFeePerGas": "0x1" + "0" * 64}, "baseFeePerGas"),
    ("eth_getBlockByNumber", {**BLOCK, "transactions": [{**TX, "nonce": HUGE}]},
     "transactions.nonce"),
    ("eth_getBlockByNumber", {**BLOCK, "transactions": [{**TX, "gas": 1.5}]}, "gas"),
    ("eth_getTransactionByHash", {**TX, "value": "0x1" + "0" * 64}, "value"),
    ("eth_getTransactionByHash", {**TX, "chainId": "0x1" + "0" * 16}, "chainId"),
    ("eth_getTransactionByHash",
     {**TX, "authorizationList": [{**TX["authorizationList"][0], "nonce": HUGE}]},  # type: ignore[dict-item]
     "authorizationList.nonce"),
    ("eth_getTransactionReceipt", {**RECEIPT, "cumulativeGasUsed": HUGE}, "cumulativeGasUsed"),
    ("eth_getTransactionReceipt",
     {**RECEIPT, "logs": [{**RECEIPT["logs"][0], "logIndex": HUGE}]},  # type: ignore[dict-item]
     "logs.logIndex"),
    ("eth_getBlockReceipts", [RECEIPT, {**RECEIPT, "blockNumber": HUGE}], "blockNumber"),
    ("eth_getLogs", [{"blockNumber": "0x" + "1" * 17}], "blockNumber"),
    ("eth_getProof", {"balance": HUGE, "nonce": "0x1"}, "balance"),
    ("eth_feeHistory", {"oldestBlock": "0x1", "reward": [["0x1", HUGE]]}, "reward"),
    ("eth_syncing", {"currentBlock": HUGE}, "currentBlock"),
])
def test_objects_with_a_number_out_of_range(method: str, answer: Any, where: str) -> None:
    assert where in refused(Call(method), answer).message


def test_a_pushed_head() -> None:
    with pytest.raises(IntegrityFailure) as info:
        check_header({**BLOCK, "number": HUGE})
    assert info.value.message.startswith("newHeads.number")
