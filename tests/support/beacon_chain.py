"""A beacon chain of our own for the light client's tests, built with the consensus
spec's own functions and test helpers (eth-consensus-specs), signed with the spec's
test BLS keys.

``LightClientChain`` is a minimal-preset Electra chain (64 validators, a sync committee
of 32, 8 slots per epoch, 6 s slots) whose execution payloads can carry given
execution block numbers and hashes: ``advance(finalized, optimistic)`` builds blocks
with full attestations until the block carrying ``finalized`` is finalized, the block
carrying ``optimistic`` is attested and a next block carries the sync committee's
aggregate signature over it; the light-client update of that round follows the spec's
``create_light_client_update`` (``finality_update_of`` gives an older round's finality
update again, to replay). So a light client synced from ``trusted_root`` reports
exactly the execution blocks it was given, which is how the node can later anchor on
anvil's real blocks. ``BeaconServer(chain)`` (tests/support/beacon.py) serves it.

Building is CPU work of the spec's Python (~10 s of CPU for the genesis state and the
first round here); callers in async code run ``advance`` in a thread.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from bizra_node.consensus import NetworkConfig


def _shim_spec_imports() -> None:
    """eth-consensus-specs 1.7.0a13's helpers/deposits.py imports its churn helpers by
    the source tree's path (``tests.core.pyspec...``), which the wheel lacks: point that
    name at the installed module before the helpers are imported."""
    import eth_consensus_specs.test.helpers.churn as churn

    sys.modules.setdefault("tests.core.pyspec.eth_consensus_specs.test.helpers.churn", churn)


_shim_spec_imports()

from eth_consensus_specs.electra import minimal as _electra_minimal  # noqa: E402
from eth_consensus_specs.test.context import (  # noqa: E402
    get_copy_of_spec,
    spec_with_config_overrides,
)
from eth_consensus_specs.test.helpers.attestations import (  # noqa: E402
    next_slots_with_attestations,
    state_transition_with_full_block,
)
from eth_consensus_specs.test.helpers.block import build_empty_block_for_next_slot  # noqa: E402
from eth_consensus_specs.test.helpers.genesis import (  # noqa: E402
    create_genesis_state,
    create_signed_genesis_block,
)
from eth_consensus_specs.test.helpers.light_client import get_sync_aggregate  # noqa: E402
from eth_consensus_specs.test.helpers.state import next_slots  # noqa: E402
from eth_consensus_specs.utils.ssz.ssz_impl import serialize  # noqa: E402
from eth_consensus_specs.utils.ssz.ssz_typing import (  # noqa: E402
    BitVector,
    Container,
    List,
    Uint,
    Vector,
)

__all__ = ["ExecutionBlock", "LightClientChain", "spec_json"]

SLOT_SECONDS = 6


@dataclass(frozen=True)
class ExecutionBlock:
    number: int
    hash: bytes


def spec_json(value: Any) -> Any:
    """A spec (remerkleable) value in the beacon API's JSON: integers as decimal
    strings, bytes and bitvectors as 0x-hex, containers as objects."""
    if isinstance(value, Uint):
        return str(int(value))
    if isinstance(value, BitVector):
        return "0x" + serialize(value).hex()
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, Container):
        return {name: spec_json(getattr(value, name)) for name in value.fields()}
    if isinstance(value, List | Vector | list | tuple):
        return [spec_json(v) for v in value]
    raise TypeError(f"no JSON for {type(value)}")


def _electra_at_genesis() -> Any:
    forks = ("ALTAIR", "BELLATRIX", "CAPELLA", "DENEB", "ELECTRA")
    spec, _ = spec_with_config_overrides(get_copy_of_spec(_electra_minimal),
                                         {f"{fork}_FORK_EPOCH": 0 for fork in forks})
    return spec


class LightClientChain:
    """See the module. Thread-safe: ``advance`` runs under a lock; the JSON getters
    read what the last finished round published."""

    VERSION = "electra"

    def __init__(self, *, genesis_time: int | None = None, validators: int = 64) -> None:
        spec = self.spec = _electra_at_genesis()
        state = create_genesis_state(spec, [spec.MAX_EFFECTIVE_BALANCE] * validators,
                                     spec.MAX_EFFECTIVE_BALANCE)
        # Ten periods in the past by default: rounds are built faster than real time,
        # and a light client refuses an update signed after its clock's slot.
        state.genesis_time = genesis_time if genesis_time is not None \
            else int(time.time()) - SLOT_SECONDS * self.slots_per_period * 10
        self.state = state
        genesis_block = create_signed_genesis_block(spec, state)
        self.trusted_root = bytes(genesis_block.message.hash_tree_root())
        self.genesis_time = int(state.genesis_time)
        self.genesis_validators_root = bytes(state.genesis_validators_root)
        self.bootstrap_data = spec.create_light_client_bootstrap(state, genesis_block)
        """The spec's LightClientBootstrap for ``trusted_root``."""
        self._bootstrap = spec_json(self.bootstrap_data)
        self.rounds: list[Any] = []
        """The spec's LightClientUpdate of each round, in order."""
        self._finality: Any = None
        self._optimistic: Any = None
        self._lock = threading.Lock()

    @property
    def slots_per_period(self) -> int:
        return int(self.spec.SLOTS_PER_EPOCH * self.spec.EPOCHS_PER_SYNC_COMMITTEE_PERIOD)

    # -- the network, as a light client sees it ----------------------------------------------
    def config_spec(self) -> dict[str, str]:
        """The chain's config as /eth/v1/config/spec serves it (strings)."""
        out: dict[str, str] = {}
        for key, value in self.spec.config._asdict().items():
            if isinstance(value, bytes):
                out[key] = "0x" + value.hex()
            elif isinstance(value, int | str):
                out[key] = str(value)
        return out

    def network(self) -> NetworkConfig:
        return NetworkConfig.from_config(self.config_spec(), genesis_time=self.genesis_time,
                                         genesis_validators_root=self.genesis_validators_root,
                                         name="beacon-chain-test")

    # -- building --------------------------------------------------------------------------
    def _block(self, execution: ExecutionBlock | None) -> Any:
        block = build_empty_block_for_next_slot(self.spec, self.state)
        if execution is not None:
            block.body.execution_payload.block_number = execution.number
            block.body.execution_payload.block_hash = execution.hash
        return block

    def advance(self, finalized: ExecutionBlock, optimistic: ExecutionBlock, *,
                participation: float = 1.0) -> Any:
        """One round (see the module); returns the spec's LightClientUpdate. With
        ``participation`` < 1 only that share of the committee signs."""
        with self._lock:
            return self._advance(finalized, optimistic, participation)

    def _advance(self, finalized: ExecutionBlock, optimistic: ExecutionBlock,
                 participation: float) -> Any:
        spec, per_epoch = self.spec, int(self.spec.SLOTS_PER_EPOCH)
        # The finalized block opens an epoch (a checkpoint), epoch 2 at the earliest:
        # the spec justifies nothing before the end of epoch 2.
        boundary = max((int(self.state.slot) // per_epoch + 1) * per_epoch, 2 * per_epoch)
        next_slots(spec, self.state, boundary - 1 - int(self.state.slot))
        finalized_block = state_transition_with_full_block(
            spec, self.state, True, True, block=self._block(finalized))
        _, _, self.state = next_slots_with_attestations(spec, self.state, 2 * per_epoch - 1,
                                                        True, True)
        attested_block = state_transition_with_full_block(
            spec, self.state, True, True, block=self._block(optimistic))
        attested_state = self.state.copy()
        signers = math.floor(int(spec.SYNC_COMMITTEE_SIZE) * participation)
        aggregate, _ = get_sync_aggregate(spec, self.state, signers)
        signature_block = state_transition_with_full_block(spec, self.state, True, True,
                                                           sync_aggregate=aggregate)
        update = spec.create_light_client_update(self.state, signature_block, attested_state,
                                                 attested_block, finalized_block)
        if update.finalized_header.beacon.hash_tree_root() \
                != finalized_block.message.hash_tree_root():
            raise RuntimeError("the round did not finalize its checkpoint block")
        self.rounds.append(update)
        self._finality = self._versioned(spec.create_light_client_finality_update(update))
        self._optimistic = self._versioned(spec.create_light_client_optimistic_update(update))
        return update

    def _versioned(self, value: Any) -> Any:
        return {"version": self.VERSION, "data": spec_json(value)}

    # -- BeaconData (tests/support/beacon.py) ----------------------------------------------
    def bootstrap(self, root: str) -> Any:
        if root != "0x" + self.trusted_root.hex():
            return None
        return {"version": self.VERSION, "data": self._bootstrap}

    def updates(self, start: int, count: int) -> list[Any]:
        """The best update (the spec's is_better_update) of each period asked, among the
        rounds whose attested and signature slots share a period."""
        spec = self.spec
        with self._lock:
            best: dict[int, Any] = {}
            for update in self.rounds:
                period = int(spec.compute_sync_committee_period_at_slot(
                    update.attested_header.beacon.slot))
                if period != spec.compute_sync_committee_period_at_slot(update.signature_slot):
                    continue
                if start <= period < start + count and (
                        period not in best or spec.is_better_update(update, best[period])):
                    best[period] = update
            return [self._versioned(best[p]) for p in sorted(best)]

    def finality_update(self) -> Any:
        return self._finality

    def optimistic_update(self) -> Any:
        return self._optimistic

    def finality_update_of(self, index: int) -> Any:
        """The finality update of round ``index`` (0: the first), as the API serves one:
        an older round's is valid and signed, and names an older finalized block than a
        light client that has followed later rounds holds."""
        with self._lock:
            update = self.rounds[index]
            return self._versioned(self.spec.create_light_client_finality_update(update))

    def genesis(self) -> Any:
        return {"data": {"genesis_time": str(self.genesis_time),
                         "genesis_validators_root": "0x" + self.genesis_validators_root.hex(),
                         "genesis_fork_version": "0x" + bytes(
                             self.spec.config.GENESIS_FORK_VERSION).hex()}}

    def config(self) -> Any:
        return {"data": self.config_spec()}
