-- Validations whose block a reorg replaced are marked, not deleted: what the node
-- answered then stays in the history, and says it no longer holds.
--
-- reorged_at: when a node marked it; reorg_fork: the last block the old and the new
-- chain share; replaced_by: the hash of the block now at that number (NULL when the new
-- chain is shorter there). A node marks the records of the blocks it saw replaced,
-- matching each record's block number and (for transactions and blocks) block hash.

ALTER TABLE validations
    ADD COLUMN reorged_at  timestamptz,
    ADD COLUMN reorg_fork  bigint,
    ADD COLUMN replaced_by text;

-- "the records of these blocks": recent block numbers of one network.
CREATE INDEX validations_network_block
    ON validations (network_id, block_number) WHERE block_number IS NOT NULL;
-- "reorged validations" for the history filter: few, found at once.
CREATE INDEX validations_reorged_time
    ON validations (validated_at DESC, id DESC) WHERE reorged_at IS NOT NULL;
