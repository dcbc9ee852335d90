"""The light client's named checks, and the error that names the one that failed.

Each assertion of the spec's ``initialize_light_client_store``,
``validate_light_client_update`` and ``apply_light_client_update`` has a name here, so
a refusal says which rule the data broke (the command prints it; the anchor source
counts refusals by it). Two refusals go beyond the spec's asserts, for
finality updates only, after the spec has processed what it accepts of them:
``finality-older-than-held``, a finality update naming an older finalized block than
the one held (the spec accepts and ignores it; a server that keeps sending old finality
is stalling us, and is reported as such), and ``finality-supermajority``, a newer
finalized header signed by fewer than 2/3 of the committee (the spec keeps it as the
best valid update without applying it, which is what happens; the refusal says why
finality did not move).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

__all__ = ["Check", "ConsensusError"]


class Check(StrEnum):
    # bootstrap (initialize_light_client_store)
    CHECKPOINT_ROOT = "checkpoint-root"
    CURRENT_SYNC_COMMITTEE_BRANCH = "current-sync-committee-branch"
    # is_valid_light_client_header
    EXECUTION_BRANCH = "execution-branch"
    HEADER_FORK_FIELDS = "header-fork-fields"
    # validate_light_client_update, in the spec's order
    PARTICIPATION = "participation"
    UPDATE_FROM_FUTURE = "update-from-future"
    SIGNATURE_SLOT = "signature-slot"
    FINALIZED_AFTER_ATTESTED = "finalized-after-attested"
    UPDATE_PERIOD = "update-period"
    UPDATE_NOT_RELEVANT = "update-not-relevant"
    FINALIZED_HEADER_NOT_EMPTY = "finalized-header-not-empty"
    FINALITY_BRANCH = "finality-branch"
    NEXT_SYNC_COMMITTEE_NOT_EMPTY = "next-sync-committee-not-empty"
    NEXT_SYNC_COMMITTEE_MISMATCH = "next-sync-committee-mismatch"
    NEXT_SYNC_COMMITTEE_BRANCH = "next-sync-committee-branch"
    SIGNATURE = "signature"
    # apply_light_client_update
    APPLY_PERIOD = "apply-period"
    # beyond the spec (see the module's docstring)
    FINALITY_OLDER_THAN_HELD = "finality-older-than-held"
    FINALITY_SUPERMAJORITY = "finality-supermajority"
    # the data itself
    FORK = "fork"
    MALFORMED = "malformed"


class ConsensusError(Exception):
    """Light-client data failed ``check``; ``message`` says how, ``details`` with what."""

    def __init__(self, check: Check, message: str, **details: Any) -> None:
        super().__init__(f"{check}: {message}")
        self.check = check
        self.message = message
        self.details = details
