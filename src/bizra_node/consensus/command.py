"""``bizra-node beacon verify``: the light client once, by hand.

Syncs from the checkpoint through one beacon API, prints its progress on stderr, and
prints on its last line (stdout) one JSON object: the verified finalized and optimistic
execution blocks, ``{"finalized": {"slot", "executionBlockNumber",
"executionBlockHash"}, "optimistic": {...}}``. A check that fails is one line naming it
(exit 1); an unreachable or failing beacon API exits 3, bad arguments 2. ``--now-slot``
replaces the wall clock, to replay recorded data.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import aiohttp

from .api import BeaconApi, BeaconApiError
from .checks import ConsensusError
from .client import LightClient
from .forks import NETWORKS, NetworkConfig

__all__ = ["add_beacon_parser", "run_beacon_command"]

REFUSED, USAGE, UNAVAILABLE = 1, 2, 3


def add_beacon_parser(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "beacon", help="the consensus light client (the sync committee vouches for blocks)")
    actions = parser.add_subparsers(dest="beacon_command", required=True)
    verify = actions.add_parser(
        "verify", help="sync from a checkpoint through a beacon API and print the verified "
                       "finalized and optimistic execution blocks (JSON, last line)")
    verify.add_argument("--beacon-url", required=True, help="the beacon node's REST API")
    verify.add_argument("--checkpoint", required=True,
                        help="a trusted beacon block root, 0x + 64 hex digits (a finalized "
                             "epoch-boundary block; docs/trust.md says how to pick one)")
    verify.add_argument("--network", default="mainnet", choices=[*NETWORKS, "custom"],
                        help="a built-in network, or custom: the fork schedule and genesis "
                             "are read from the beacon API (default mainnet)")
    verify.add_argument("--now-slot", type=int, default=None, metavar="N",
                        help="take slot N as the current slot instead of the wall clock "
                             "(to replay recorded data)")
    verify.add_argument("--timeout", type=float, default=30.0,
                        help="seconds per beacon API request (default 30)")
    return parser


def _progress(message: str) -> None:
    print(f"beacon verify: {message}", file=sys.stderr, flush=True)


def _checkpoint(text: str) -> bytes | None:
    raw = text.strip().removeprefix("0x")
    if len(raw) != 64:
        return None
    try:
        return bytes.fromhex(raw)
    except ValueError:
        return None


async def _network(args: argparse.Namespace, api: BeaconApi) -> NetworkConfig:
    if args.network != "custom":
        return NETWORKS[args.network]
    spec = await api.spec()
    genesis_time, root = await api.genesis()
    config = NetworkConfig.from_config(spec, genesis_time=genesis_time,
                                       genesis_validators_root=root)
    forks = ", ".join(f"{f.key}@{config.epochs[f]}" for f in config.scheduled())
    _progress(f"network {config.name} from the beacon API (not verified: it only sets the "
              f"signing domains and the clock): preset {config.preset.name}, forks {forks}")
    return config


async def _verify(args: argparse.Namespace) -> int:
    checkpoint = _checkpoint(args.checkpoint)
    if checkpoint is None:
        print("beacon verify: --checkpoint must be 0x + 64 hex digits (a beacon block root)",
              file=sys.stderr)
        return USAGE
    if (args.now_slot is not None and args.now_slot < 0) or args.timeout <= 0:
        print("beacon verify: --now-slot >= 0 and --timeout > 0", file=sys.stderr)
        return USAGE
    async with aiohttp.ClientSession() as session:
        api = BeaconApi(args.beacon_url, session, timeout=args.timeout)
        try:
            config = await _network(args, api)
        except ValueError as exc:
            print(f"beacon verify: the beacon API's network config is unusable: {exc}",
                  file=sys.stderr)
            return UNAVAILABLE
        except BeaconApiError as exc:
            print(f"beacon verify: beacon API unavailable: {exc}", file=sys.stderr)
            return UNAVAILABLE
        now_slot: int | None = args.now_slot
        client = LightClient(config, checkpoint, progress=_progress,
                             clock=(lambda: now_slot) if now_slot is not None
                             else config.current_slot)
        _progress(f"network {config.name}, current slot {client.clock()}"
                  f"{' (--now-slot)' if now_slot is not None else ''}")
        try:
            await client.bootstrap(api)
            await client.sync_periods(api)
            await client.follow(api)
        except ConsensusError as exc:
            print(f"beacon verify: refused, check {exc.check} failed: {exc.message}",
                  file=sys.stderr)
            return REFUSED
        except BeaconApiError as exc:
            print(f"beacon verify: beacon API unavailable: {exc}", file=sys.stderr)
            return UNAVAILABLE
    fin, opt = client.finalized, client.optimistic
    print(json.dumps({"finalized": fin.to_json() if fin else None,
                      "optimistic": opt.to_json() if opt else None}), flush=True)
    return 0


def run_beacon_command(args: argparse.Namespace) -> int:
    return asyncio.run(_verify(args))
