"""Networks: presets, fork schedules, genesis, the clock, and the signing domain.

The light client needs, per network: the preset's sizes (a sync committee of 512 on
mainnet-preset networks, 32 on minimal devnets; slots per epoch, epochs per period),
each fork's version and first epoch (which container shape the data has, which
generalized indices its branches use, which fork version signs), the genesis time
(the clock: no update from the future) and the genesis validators root (the signing
domain). Mainnet, Sepolia, Holesky and Hoodi are built in (values from the networks'
published config.yaml, eth-clients/*, and the consensus specs' configs/mainnet.yaml);
any other network is read from its config mapping (a devnet's config.yaml, or the
beacon API's /eth/v1/config/spec) with its genesis.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from .ssz import BYTES4, BYTES32, Container

__all__ = [
    "FAR_FUTURE_EPOCH",
    "MAINNET_PRESET",
    "MINIMAL_PRESET",
    "NETWORKS",
    "Fork",
    "NetworkConfig",
    "Preset",
    "compute_domain",
    "compute_fork_data_root",
    "compute_signing_root",
    "load_network",
    "network",
]

FAR_FUTURE_EPOCH = 2**64 - 1
DOMAIN_SYNC_COMMITTEE = bytes.fromhex("07000000")


class Fork(IntEnum):
    """The forks whose light-client data this client reads (Phase 0 has none)."""

    PHASE0 = 0
    ALTAIR = 1
    BELLATRIX = 2
    CAPELLA = 3
    DENEB = 4
    ELECTRA = 5
    FULU = 6

    @property
    def key(self) -> str:
        """The name the beacon API's ``version`` and config.yaml's keys use."""
        return self.name.lower()

    @classmethod
    def from_key(cls, key: str) -> Fork:
        try:
            return cls[key.upper()]
        except KeyError:
            raise ValueError(f"unknown fork {key!r}") from None


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    slots_per_epoch: int
    epochs_per_sync_committee_period: int
    sync_committee_size: int
    min_sync_committee_participants: int = 1

    @property
    def update_timeout(self) -> int:
        """Slots after which the best valid update may be forced (one period)."""
        return self.slots_per_epoch * self.epochs_per_sync_committee_period


MAINNET_PRESET = Preset("mainnet", 32, 256, 512)
MINIMAL_PRESET = Preset("minimal", 8, 8, 32)
_PRESETS = {p.name: p for p in (MAINNET_PRESET, MINIMAL_PRESET)}


@dataclass(frozen=True, slots=True)
class _ForkData:
    current_version: bytes
    genesis_validators_root: bytes


@dataclass(frozen=True, slots=True)
class _SigningData:
    object_root: bytes
    domain: bytes


_FORK_DATA = Container(_ForkData, [("current_version", BYTES4),
                                   ("genesis_validators_root", BYTES32)])
_SIGNING_DATA = Container(_SigningData, [("object_root", BYTES32), ("domain", BYTES32)])


def compute_fork_data_root(version: bytes, genesis_validators_root: bytes) -> bytes:
    return _FORK_DATA.hash_tree_root(_ForkData(version, genesis_validators_root))


def compute_domain(domain_type: bytes, version: bytes, genesis_validators_root: bytes) -> bytes:
    return domain_type + compute_fork_data_root(version, genesis_validators_root)[:28]


def compute_signing_root(object_root: bytes, domain: bytes) -> bytes:
    return _SIGNING_DATA.hash_tree_root(_SigningData(object_root, domain))


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkConfig:
    """One network's constants. ``versions[f]`` and ``epochs[f]`` per :class:`Fork`
    (``FAR_FUTURE_EPOCH``: not scheduled)."""

    name: str
    preset: Preset
    genesis_time: int
    genesis_validators_root: bytes
    seconds_per_slot: float
    versions: tuple[bytes, ...]
    epochs: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.versions) != len(Fork) or len(self.epochs) != len(Fork):
            raise ValueError(f"{self.name}: one version and one epoch per fork")
        if len(self.genesis_validators_root) != 32 or any(len(v) != 4 for v in self.versions):
            raise ValueError(f"{self.name}: versions are 4 bytes, the genesis root 32")
        if self.seconds_per_slot <= 0:
            raise ValueError(f"{self.name}: seconds per slot must be positive")
        if list(self.epochs) != sorted(self.epochs):
            raise ValueError(f"{self.name}: fork epochs must not decrease")

    # -- time ------------------------------------------------------------------------
    def epoch_at_slot(self, slot: int) -> int:
        return slot // self.preset.slots_per_epoch

    def period_at_slot(self, slot: int) -> int:
        return self.epoch_at_slot(slot) // self.preset.epochs_per_sync_committee_period

    def period_start_slot(self, period: int) -> int:
        return period * self.preset.epochs_per_sync_committee_period * self.preset.slots_per_epoch

    def slot_at_time(self, unix_time: float) -> int:
        return max(0, int((unix_time - self.genesis_time) // self.seconds_per_slot))

    def current_slot(self, disparity: float = 0.5) -> int:
        """The wall clock's slot, ``disparity`` seconds ahead (the spec's
        MAXIMUM_GOSSIP_CLOCK_DISPARITY), so an update signed in a slot that has just
        begun elsewhere is not taken for one from the future."""
        return self.slot_at_time(time.time() + disparity)

    # -- forks -----------------------------------------------------------------------
    def fork_at_epoch(self, epoch: int) -> Fork:
        for fork in reversed(Fork):
            if epoch >= self.epochs[fork]:
                return fork
        return Fork.PHASE0

    def fork_at_slot(self, slot: int) -> Fork:
        return self.fork_at_epoch(self.epoch_at_slot(slot))

    def fork_version_at_epoch(self, epoch: int) -> bytes:
        return self.versions[self.fork_at_epoch(epoch)]

    def scheduled(self) -> list[Fork]:
        """The forks with an epoch (Altair on), in order."""
        return [f for f in Fork if f >= Fork.ALTAIR and self.epochs[f] != FAR_FUTURE_EPOCH]

    def fork_of_digest(self, digest: bytes) -> Fork | None:
        """The scheduled fork whose (pre-Fulu) digest is ``digest``."""
        for fork in reversed(self.scheduled()):
            if self.fork_digest(fork) == digest:
                return fork
        return None

    def fork_digest(self, fork: Fork) -> bytes:
        """The pre-Fulu fork digest (Fulu's blob-parameter digests are not used here:
        the spec's test vectors name the fork of their data by this digest)."""
        return compute_fork_data_root(self.versions[fork], self.genesis_validators_root)[:4]

    def sync_committee_domain(self, signature_slot: int) -> bytes:
        """The domain a sync committee signs with for a block signed at
        ``signature_slot``: the fork version of the slot before it (the spec's
        ``max(signature_slot, 1) - 1``) and the genesis validators root."""
        slot = max(signature_slot, 1) - 1
        return compute_domain(DOMAIN_SYNC_COMMITTEE,
                              self.fork_version_at_epoch(self.epoch_at_slot(slot)),
                              self.genesis_validators_root)

    # -- building ----------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: Mapping[str, object], *, genesis_time: int,
                    genesis_validators_root: bytes, name: str | None = None) -> NetworkConfig:
        """A network from its config mapping (config.yaml loaded, or the beacon API's
        /eth/v1/config/spec): PRESET_BASE, SECONDS_PER_SLOT (or SLOT_DURATION_MS),
        GENESIS_FORK_VERSION and each ``<FORK>_FORK_VERSION`` / ``<FORK>_FORK_EPOCH``.
        A fork the mapping lacks is not scheduled. Raises ValueError."""
        preset_name = str(config.get("PRESET_BASE", "mainnet")).strip("'\"")
        if preset_name not in _PRESETS:
            raise ValueError(f"PRESET_BASE {preset_name!r} is neither mainnet nor minimal")
        if "SECONDS_PER_SLOT" in config:
            seconds = float(_number(config["SECONDS_PER_SLOT"], "SECONDS_PER_SLOT"))
        elif "SLOT_DURATION_MS" in config:
            seconds = _number(config["SLOT_DURATION_MS"], "SLOT_DURATION_MS") / 1000
        else:
            raise ValueError("the config has neither SECONDS_PER_SLOT nor SLOT_DURATION_MS")
        versions = [_version(config, "GENESIS_FORK_VERSION")]
        epochs = [0]
        missing: str | None = None
        for fork in list(Fork)[1:]:
            key = fork.name
            if f"{key}_FORK_VERSION" in config and f"{key}_FORK_EPOCH" in config:
                if missing is not None:
                    raise ValueError(f"{key} is scheduled but {missing} is missing")
                versions.append(_version(config, f"{key}_FORK_VERSION"))
                epochs.append(_number(config[f"{key}_FORK_EPOCH"], f"{key}_FORK_EPOCH"))
            else:
                missing = missing or f"{key}_FORK_VERSION/{key}_FORK_EPOCH"
                versions.append(versions[-1])
                epochs.append(FAR_FUTURE_EPOCH)
        label = name or str(config.get("CONFIG_NAME", "custom")).strip("'\"")
        return cls(name=label, preset=_PRESETS[preset_name], genesis_time=genesis_time,
                   genesis_validators_root=genesis_validators_root, seconds_per_slot=seconds,
                   versions=tuple(versions), epochs=tuple(epochs))


def _number(value: object, key: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{key}: not a number")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.isascii() and text.isdigit() and len(text) <= 20:
        return int(text)
    raise ValueError(f"{key}: {value!r} is not a number")


def _version(config: Mapping[str, object], key: str) -> bytes:
    """A fork version: a 0x-string, or the integer YAML 1.1 reads 0x00000001 as."""
    value = config.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**32:
        return value.to_bytes(4, "big")
    if isinstance(value, str) and value.startswith("0x") and len(value) == 10:
        try:
            return bytes.fromhex(value[2:])
        except ValueError:
            pass
    raise ValueError(f"{key}: {value!r} is not a 4-byte fork version")


def _known(name: str, genesis_time: int, root: str, versions: list[str],
           epochs: list[int]) -> NetworkConfig:
    return NetworkConfig(name=name, preset=MAINNET_PRESET, genesis_time=genesis_time,
                         genesis_validators_root=bytes.fromhex(root), seconds_per_slot=12,
                         versions=tuple(bytes.fromhex(v) for v in versions), epochs=tuple(epochs))


NETWORKS: dict[str, NetworkConfig] = {
    n.name: n for n in (
        _known("mainnet", 1606824023,
               "4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95",
               ["00000000", "01000000", "02000000", "03000000", "04000000", "05000000",
                "06000000"],
               [0, 74240, 144896, 194048, 269568, 364032, 411392]),
        _known("sepolia", 1655733600,
               "d8ea171f3c94aea21ebc42a1ed61052acf3f9209c00e4efbaaddac09ed9b8078",
               ["90000069", "90000070", "90000071", "90000072", "90000073", "90000074",
                "90000075"],
               [0, 50, 100, 56832, 132608, 222464, 272640]),
        _known("holesky", 1695902400,
               "9143aa7c615a7f7115e2b6aac319c03529df8242ae705fba9df39b79c59fa8b1",
               ["01017000", "02017000", "03017000", "04017000", "05017000", "06017000",
                "07017000"],
               [0, 0, 0, 256, 29696, 115968, 165120]),
        _known("hoodi", 1742213400,
               "212f13fc4df078b6cb7db228f1c8307566dcecf900867401a92023d7ba99cb5f",
               ["10000910", "20000910", "30000910", "40000910", "50000910", "60000910",
                "70000910"],
               [0, 0, 0, 0, 0, 2048, 50688]),
    )
}
"""The built-in networks. A fork after Fulu is not listed: data signed after one
activates fails the signature check (it is signed with a version this table lacks)
rather than being read with the wrong shapes."""


def network(name: str) -> NetworkConfig:
    try:
        return NETWORKS[name]
    except KeyError:
        raise ValueError(f"unknown network {name!r} (known: {', '.join(NETWORKS)})") from None


def load_network(value: str) -> NetworkConfig:
    """BEACON_NETWORK: a built-in network's name, or the path of a devnet's config file:
    JSON (the beacon API's /eth/v1/config/spec answer, ``{"data": {...}}``, or the
    mapping itself) or a config.yaml of flat ``KEY: value`` lines, either with
    GENESIS_TIME and GENESIS_VALIDATORS_ROOT added (the beacon API's
    /eth/v1/beacon/genesis). Raises ValueError saying what is wrong."""
    value = value.strip()
    if value in NETWORKS:
        return NETWORKS[value]
    if "/" not in value and "." not in value:
        raise ValueError(f"not a known network ({', '.join(NETWORKS)}) nor the path of a "
                         "devnet config file")
    path = Path(value)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValueError(f"cannot read the network config file: {exc.strerror}") from None
    config = _config_mapping(text)
    root = str(config.get("GENESIS_VALIDATORS_ROOT", "")).strip("'\"")
    if "GENESIS_TIME" not in config or not root:
        raise ValueError("the network config file lacks GENESIS_TIME and "
                         "GENESIS_VALIDATORS_ROOT (the "
                         "beacon API's /eth/v1/beacon/genesis gives them)")
    raw = root.removeprefix("0x")
    try:
        root_bytes = bytes.fromhex(raw)
    except ValueError:
        root_bytes = b""
    if len(root_bytes) != 32:
        raise ValueError("the network config file's GENESIS_VALIDATORS_ROOT is not 0x + 64 "
                         "hex digits")
    return NetworkConfig.from_config(config, genesis_time=_number(config["GENESIS_TIME"],
                                                                  "GENESIS_TIME"),
                                     genesis_validators_root=root_bytes)


def _config_mapping(text: str) -> dict[str, object]:
    """A config file's mapping: JSON (optionally under ``data``), else flat YAML lines
    (``KEY: value`` at the top level; comments, blank lines and the items of nested
    lists such as BLOB_SCHEDULE skipped, quotes removed)."""
    if text.lstrip().startswith("{"):
        try:
            loaded = json.loads(text)
        except ValueError:
            raise ValueError("the network config is not valid JSON") from None
        if isinstance(loaded, dict) and isinstance(loaded.get("data"), dict):
            loaded = loaded["data"]
        if not isinstance(loaded, dict):
            raise ValueError("the network config is not a JSON object")
        return {str(k): v for k, v in loaded.items()}
    out: dict[str, object] = {}
    for raw_line in text.splitlines():
        if raw_line[:1] in (" ", "\t", "-"):
            continue  # inside a nested value
        line = raw_line.split("#", 1)[0].strip()
        if not line:
            continue
        key, sep, item = line.partition(":")
        if not sep or not key.strip():
            raise ValueError(f"the network config has a line that is not KEY: value ({key!r})")
        out[key.strip()] = item.strip().strip("'\"")
    return out
