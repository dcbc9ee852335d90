"""Verification primitives: what an upstream says, proven from a trusted block hash down.

Pure functions over the JSON objects upstreams return (no I/O): transactions (hash,
signature, chain id), receipts, ordered-trie roots (transactions, receipts,
withdrawals), headers and parent links, EIP-1186 account and storage proofs, and the
``verification`` object a result carries. A failed or impossible check raises
:class:`TrustError` naming the check; an answer the node has no way to check (a
transaction type it cannot encode) raises :class:`Unprovable`. See docs/trust.md for
what each proves and assumes.
"""

from __future__ import annotations

from .block import (
    ProvenBlock,
    encode_withdrawal,
    prove_block,
    receipts_root,
    transactions_root,
    withdrawals_root,
)
from .deposit import DEPOSIT_TX_TYPE
from .errors import Check, TrustError, Unprovable
from .header import Header, header_hash, verify_chain, verify_header
from .inclusion import ProvenTx, prove_transaction
from .proofs import (
    EMPTY_CODE_HASH,
    ProvenAccount,
    verify_account_proof,
    verify_code,
    verify_storage_proof,
)
from .receipts import ConsensusReceipt, decode_receipt, encode_receipt
from .result import Anchor, AnchorSource, Failure, Level, Verification, verification
from .transactions import (
    SignedTx,
    VerifiedTx,
    decode_transaction,
    encode_transaction,
    recover_address,
    recover_sender,
    signing_hash,
    transaction_hash,
    verify_transaction,
)
from .tries import EMPTY_TRIE_ROOT, ordered_trie_root, reference_trie_root, trie_root

__all__ = [
    "DEPOSIT_TX_TYPE",
    "EMPTY_CODE_HASH",
    "EMPTY_TRIE_ROOT",
    "Anchor",
    "AnchorSource",
    "Check",
    "ConsensusReceipt",
    "Failure",
    "Header",
    "Level",
    "ProvenAccount",
    "ProvenBlock",
    "ProvenTx",
    "SignedTx",
    "TrustError",
    "Unprovable",
    "Verification",
    "VerifiedTx",
    "decode_receipt",
    "decode_transaction",
    "encode_receipt",
    "encode_transaction",
    "encode_withdrawal",
    "header_hash",
    "ordered_trie_root",
    "prove_block",
    "prove_transaction",
    "receipts_root",
    "recover_address",
    "recover_sender",
    "reference_trie_root",
    "signing_hash",
    "transaction_hash",
    "transactions_root",
    "trie_root",
    "verification",
    "verify_account_proof",
    "verify_chain",
    "verify_code",
    "verify_header",
    "verify_storage_proof",
    "verify_transaction",
    "withdrawals_root",
]
