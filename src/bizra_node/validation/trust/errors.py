"""One exception for every failed check, with a machine-readable name.

A check fails when the upstream's answer contradicts what it claims (a hash that is
not the hash of the fields, a root that is not the root of the list, a proof that
does not lead to the claimed value) and also when the answer is too malformed to be
checked at all (bad hex, wrong lengths, missing fields): a node that cannot check an
answer must not serve it, so both are the same failure for the caller.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Check", "TrustError", "Unprovable"]


class Check(StrEnum):
    """The checks, by the name that goes into results, records and metric labels."""

    TX_FIELDS = "tx_fields"
    """The transaction object is complete and well-formed for its type."""
    TX_HASH = "tx_hash"
    """keccak of the canonical encoding is the claimed (and the asked-for) hash."""
    TX_SIGNATURE = "tx_signature"
    """The signature is valid (low s, parity 0/1) and recovers to ``from``."""
    TX_CHAIN_ID = "tx_chain_id"
    """The signed chain id is the node's network (legacy pre-EIP-155: none signed)."""
    DEPOSIT_NO_SIGNATURE = "deposit_no_signature"
    """An OP-stack deposit (type 0x7E) has no signature and none was checked: its
    ``from`` is one of the hashed fields, set by the L1 deposit that made it, proven as
    far as the hash (and the block) are, never recovered from a key."""
    HEADER_HASH = "header_hash"
    """keccak(rlp(header)) is the claimed block hash."""
    PARENT_LINK = "parent_link"
    """Headers link by parentHash (and consecutive numbers) to the anchor."""
    TRANSACTIONS_ROOT = "transactions_root"
    """The block's transaction list has the header's transactionsRoot."""
    RECEIPTS_ROOT = "receipts_root"
    """The block's receipts have the header's receiptsRoot."""
    WITHDRAWALS_ROOT = "withdrawals_root"
    """The block's withdrawals have the header's withdrawalsRoot."""
    NOT_IN_BLOCK = "not_in_block"
    """The transaction is in the (proven) transaction list of the block it names."""
    RECEIPT_MISMATCH = "receipt_mismatch"
    """The receipt served for a transaction is the one proven by the receipts root."""
    ACCOUNT_PROOF = "account_proof"
    """The EIP-1186 account proof leads from the stateRoot to the claimed account."""
    STORAGE_PROOF = "storage_proof"
    """A storage proof leads from the account's storageRoot to the claimed value."""
    CODE_HASH = "code_hash"
    """keccak(code) is the proven codeHash."""
    OMISSION = "omission"
    """An upstream answered null for a transaction, receipt or block another upstream
    served and the node proved (its own head was at or above that block)."""
    ANCHOR_HASH = "anchor_hash"
    """The block an upstream serves at the anchor's number is the one the anchor names
    (ANCHOR_SOURCE=beacon: the execution block hash the sync committee signed)."""
    PROOF_UNAVAILABLE = "proof_unavailable"
    """The upstream answered a provable call but would not give what its proof needs
    (eth_getProof refused or failing, the header or receipt that goes with it): not a
    failed check but a refusal, counted under this name and asked of another upstream
    (a metric label and a refusal's reason; never in an answer's ``checks``)."""


class TrustError(Exception):
    """An upstream's answer failed ``check``; ``message`` says how (for logs and clients:
    it names fields and values, never secrets)."""

    def __init__(self, check: Check, message: str) -> None:
        super().__init__(f"{check.value}: {message}")
        self.check = check
        self.message = message


class Unprovable(Exception):
    """An answer the node has no way to prove, but no reason to refuse either: a
    transaction type it cannot encode (Arbitrum's 0x64-0x6A, any other it does not
    know). Served ``unverified`` with ``reason`` (never proven, never ``valid: false``),
    so it is not a :class:`TrustError`: nothing was shown false."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
