"""What one REST validation asks in its one JSON-RPC batch, and the answers by name.

The pool (chain/pool.py) returns a batch's answers as a list in call order. Each
question here builds the calls of one validation and reads that list back into a typed
value, so the service and its verify hook say what they read (``answers.receipt``)
instead of counting positions, and the calls and their reading stay side by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..jsonrpc import Call

__all__ = [
    "AccountAnswers",
    "AccountQuestion",
    "BlockAnswers",
    "BlockQuestion",
    "StateAnswers",
    "StateQuestion",
    "TransactionAnswers",
    "TransactionQuestion",
]


@dataclass(frozen=True, slots=True)
class TransactionAnswers:
    tx: Any
    """eth_getTransactionByHash: the transaction, None (not found) or an RpcError."""
    receipt: Any
    head: Any
    """eth_blockNumber."""
    finality: list[Any]
    """The answers to ChainView.finality_calls()."""


class TransactionQuestion:
    def __init__(self, tx_hash: str, finality: list[Call]) -> None:
        self.calls = [Call("eth_getTransactionByHash", (tx_hash,)),
                      Call("eth_getTransactionReceipt", (tx_hash,)),
                      Call("eth_blockNumber"), *finality]

    @staticmethod
    def read(raw: list[Any]) -> TransactionAnswers:
        return TransactionAnswers(tx=raw[0], receipt=raw[1], head=raw[2], finality=raw[3:])


@dataclass(frozen=True, slots=True)
class BlockAnswers:
    block: Any
    """eth_getBlockByNumber with full transactions."""
    receipts: Any
    """eth_getBlockReceipts, asked by number only (None when not asked)."""
    head: Any
    finality: list[Any]


class BlockQuestion:
    """By number, the receipts come in the same batch (and are proven too, so the block's
    transactions are answered from the proof memo afterwards). A tag may name a
    different block for each call of a batch: its receipts are not asked."""

    def __init__(self, tag: str, finality: list[Call], *, by_number: bool) -> None:
        self.by_number = by_number
        self.calls = [Call("eth_getBlockByNumber", (tag, True)), Call("eth_blockNumber"),
                      *finality]
        if by_number:
            self.calls.insert(1, Call("eth_getBlockReceipts", (tag,)))

    def read(self, raw: list[Any]) -> BlockAnswers:
        if self.by_number:
            return BlockAnswers(block=raw[0], receipts=raw[1], head=raw[2], finality=raw[3:])
        return BlockAnswers(block=raw[0], receipts=None, head=raw[1], finality=raw[2:])


@dataclass(frozen=True, slots=True)
class AccountAnswers:
    proof: Any
    """eth_getProof (no storage keys) at the block."""
    code: Any
    header: Any
    """eth_getBlockByNumber without transactions: the header the proof is checked against."""


class AccountQuestion:
    def __init__(self, address: str, at: str) -> None:
        self.calls = [Call("eth_getProof", (address, [], at)), Call("eth_getCode", (address, at)),
                      Call("eth_getBlockByNumber", (at, False))]

    @staticmethod
    def read(raw: list[Any]) -> AccountAnswers:
        return AccountAnswers(proof=raw[0], code=raw[1], header=raw[2])


@dataclass(frozen=True, slots=True)
class StateAnswers:
    """An account as the upstreams say it is (nothing to prove it by)."""

    balance: Any
    nonce: Any
    code: Any


class StateQuestion:
    def __init__(self, address: str, at: str) -> None:
        self.calls = [Call("eth_getBalance", (address, at)),
                      Call("eth_getTransactionCount", (address, at)),
                      Call("eth_getCode", (address, at))]

    @staticmethod
    def read(raw: list[Any]) -> StateAnswers:
        return StateAnswers(balance=raw[0], nonce=raw[1], code=raw[2])
