"""keccak-256 through safe-pysha3's C extension, called directly.

eth-hash's ``auto`` backend picks pycryptodome when it is installed (it is: the node
depends on it), and each call there builds a Python hash object: ~5 µs against
~0.6 µs here (`bizra-node bench trust`). The checks hash once per trie node,
transaction, header and proof node, so this is most of their cost. eth-hash's own
pysha3 backend makes this same call; tests check both agree.
"""

from __future__ import annotations

from sha3 import keccak_256

__all__ = ["keccak"]


def keccak(data: bytes) -> bytes:
    return bytes(keccak_256(data).digest())
