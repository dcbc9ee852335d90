"""Marking the validations a reorg made obsolete (migration 0003).

A record is marked when its block number is one the reorg replaced and, for a
transaction or a block, its block hash is the replaced one (so a record made after the
reorg, on the new chain, is left alone); an address answer read at a replaced block is
marked by its number. Only records of the last ``RECENT`` days are looked at (reorgs
replace recent blocks; the partitions of older months are never scanned). Idempotent:
several nodes seeing the same reorg mark each record once.
"""

from __future__ import annotations

from collections.abc import Sequence

from .pools import ManagedPool

__all__ = ["RECENT_DAYS", "mark_reorged"]

RECENT_DAYS = 7

_MARK = f"""
UPDATE validations v
   SET reorged_at = now(), reorg_fork = $2, replaced_by = r.new_hash
  FROM unnest($3::bigint[], $4::text[], $5::text[]) AS r(number, old_hash, new_hash)
 WHERE v.network_id = $1
   AND v.block_number = r.number
   AND v.reorged_at IS NULL
   AND v.validated_at > now() - interval '{RECENT_DAYS} days'
   AND CASE v.kind
         WHEN 'transaction' THEN lower(v.result->'data'->>'blockHash') = r.old_hash
         WHEN 'block' THEN lower(v.result->'data'->>'hash') = r.old_hash
         ELSE true
       END
"""


async def mark_reorged(pool: ManagedPool, network_id: int, fork: int,
                       replaced: Sequence[tuple[int, bytes, bytes | None]]) -> int:
    """Mark the records of the replaced blocks: (number, old hash, new hash or None).
    Returns how many rows were marked."""
    if not replaced:
        return 0
    numbers = [n for n, _, _ in replaced]
    old = ["0x" + h.hex() for _, h, _ in replaced]
    new = [None if h is None else "0x" + h.hex() for _, _, h in replaced]
    status = await pool.execute("mark_reorged", _MARK, network_id, fork, numbers, old, new)
    return int(status.rsplit(" ", 1)[-1])
