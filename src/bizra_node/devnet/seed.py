"""Seed a devnet with real data: transfers of each type, a contract, a revert.

The contract is hand-assembled EVM bytecode (no compiler needed): a call with empty
calldata succeeds, a call with any calldata reverts.
"""

from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["SeedManifest", "rpc", "seed", "wait_receipt"]

# runtime: CALLDATASIZE ISZERO PUSH1 0x0a JUMPI PUSH1 0 PUSH1 0 REVERT JUMPDEST STOP
RUNTIME = "3615600a5760006000fd5b00"
# init: PUSH1 12 DUP1 PUSH1 11 PUSH1 0 CODECOPY PUSH1 0 RETURN, then the runtime
INIT_CODE = "0x600c80600b6000396000f3" + RUNTIME
GWEI = 10**9


def rpc(url: str, method: str, params: list[Any] | None = None, *, timeout: float = 10.0) -> Any:
    """A blocking JSON-RPC call (seeding is a one-off, not a hot path); ``timeout``: seconds
    to wait for the answer."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
    req = urllib.request.Request(url, data=body.encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        doc = json.loads(resp.read())
    if "error" in doc:
        raise RuntimeError(f"{method}: {doc['error']}")
    return doc["result"]


@dataclass
class SeedManifest:
    accounts: list[str]
    legacy_tx: str
    eip2930_tx: str
    eip1559_tx: str
    transfers: list[str]
    deploy_tx: str
    contract: str
    call_ok_tx: str
    reverted_tx: str
    head: int
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def wait_receipt(url: str, tx_hash: str, timeout: float = 10.0) -> dict[str, Any]:
    """anvil mines a sent transaction asynchronously: poll until its receipt exists."""
    deadline = time.monotonic() + timeout
    while True:
        receipt = rpc(url, "eth_getTransactionReceipt", [tx_hash])
        if receipt is not None:
            return dict(receipt)
        if time.monotonic() > deadline:
            raise TimeoutError(f"no receipt for {tx_hash} within {timeout}s")
        time.sleep(0.01)


def _send(url: str, tx: dict[str, Any]) -> str:
    tx_hash = str(rpc(url, "eth_sendTransaction", [tx]))
    wait_receipt(url, tx_hash)
    return tx_hash


def seed(url: str, *, extra_blocks: int = 20) -> SeedManifest:
    """Send the seed transactions (automine on), then mine ``extra_blocks`` more so the
    early blocks are final. Returns the hashes and addresses a test or a demo needs."""
    accounts = [str(a) for a in rpc(url, "eth_accounts")]
    a, b, c = accounts[0], accounts[1], accounts[2]
    legacy = _send(url, {"from": a, "to": b, "value": hex(10**18), "type": "0x0",
                         "gasPrice": hex(2 * GWEI)})
    eip2930 = _send(url, {"from": a, "to": c, "value": hex(2 * 10**17), "type": "0x1",
                          "gasPrice": hex(2 * GWEI), "accessList": []})
    eip1559 = _send(url, {"from": b, "to": c, "value": hex(3 * 10**17), "type": "0x2",
                          "maxFeePerGas": hex(3 * GWEI), "maxPriorityFeePerGas": hex(GWEI)})
    transfers = [
        _send(url, {"from": accounts[3 + i], "to": accounts[(4 + i) % len(accounts)],
                    "value": hex((i + 1) * 10**16)})
        for i in range(4)
    ]
    deploy = _send(url, {"from": a, "data": INIT_CODE, "gas": hex(200_000)})
    receipt = wait_receipt(url, deploy)
    contract = str(receipt["contractAddress"])
    call_ok = _send(url, {"from": c, "to": contract, "data": "0x", "gas": hex(60_000)})
    reverted = _send(url, {"from": c, "to": contract, "data": "0x01", "gas": hex(60_000)})
    if extra_blocks:
        rpc(url, "anvil_mine", [hex(extra_blocks)])
    head = int(rpc(url, "eth_blockNumber"), 16)
    return SeedManifest(accounts=accounts, legacy_tx=legacy, eip2930_tx=eip2930,
                        eip1559_tx=eip1559, transfers=transfers, deploy_tx=deploy,
                        contract=contract, call_ok_tx=call_ok, reverted_tx=reverted, head=head)
