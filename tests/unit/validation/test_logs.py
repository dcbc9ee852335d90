"""The logs bloom and the filter rules of logs.py: bits per the yellow paper checked on
a real block's bloom (recorded from anvil 1.7.1: two contracts, one LOG3 each), the
bloom skip, the JSON-RPC filter rules (null positions, OR-lists, addresses), bad
criteria, and a proven block's logs with positions computed from the proven lists."""

from __future__ import annotations

from typing import Any

import pytest

from bizra_node.validation.filters import RpcFailed
from bizra_node.validation.logs import LogFilter, block_logs, log_matches, may_match
from bizra_node.validation.trust import Check, Header, ProvenBlock
from bizra_node.validation.trust.bloom import bloom_add, bloom_bits, bloom_has
from bizra_node.validation.trust.receipts import ConsensusReceipt

RECORDED_BLOOM = bytes.fromhex("".join(
    "0x0400000000001000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "001000000002000000000000000004000000001000000000000000000000000000000000000004000000000000000000"
    "000000004000000000000000000000000000000000000000000000000000000000000000000000000000000400000000"
    "100000080000000000000000020000000000000000000000000000010000000000000000000080000000000000000040"
    "000000044000000000000000000000100000000000000000000000000000004000000000000000000000000000000000"
    "0000000000008000800000000000000000"
)[2:])
RECORDED_LOGS: list[tuple[str, tuple[str, ...]]] = [
    ("0x5fbdb2315678afecb367f032d93f642f64180aa3", (
        "0x0000000000000000000000000000000000000000000000000000000000000001",
        "0x0000000000000000000000000000000000000000000000000000000000000002",
        "0x0000000000000000000000000000000000000000000000000000000000000003",
    )),
    ("0xe7f1725e7734ce288f8367e1bb143e90bb3f0512", (
        "0x000000000000000000000000000000000000000000000000000000000000dead",
        "0x0000000000000000000000000000000000000000000000000000000000000005",
        "0x0000000000000000000000000000000000000000000000000000000000000003",
    )),
]


def b(x: str) -> bytes:
    return bytes.fromhex(x[2:])


def topic(v: int) -> str:
    return "0x" + f"{v:064x}"


def test_the_bloom_of_the_recorded_logs_is_the_recorded_bloom() -> None:
    built = bytearray(256)
    for address, topics in RECORDED_LOGS:
        bloom_add(built, b(address))
        for t in topics:
            bloom_add(built, b(t))
    assert bytes(built) == RECORDED_BLOOM
    assert bin(int.from_bytes(RECORDED_BLOOM, "big")).count("1") <= 3 * 8


def test_every_value_of_the_block_is_in_its_bloom_and_others_mostly_not() -> None:
    for address, topics in RECORDED_LOGS:
        assert bloom_has(RECORDED_BLOOM, bloom_bits(b(address)))
        assert all(bloom_has(RECORDED_BLOOM, bloom_bits(b(t))) for t in topics)
    absent = [v for v in range(1000, 1200) if not bloom_has(RECORDED_BLOOM, bloom_bits(b(topic(v))))]
    assert len(absent) >= 195  # ~24 of 2048 bits set: a false positive is rare


def test_bits_are_three_pairs_of_bytes_of_keccak_mod_2048() -> None:
    # keccak(b"") = c5d2460186f7233c...: bits 0x5d2 & 2047, 0x4601 & 2047, 0x86f7 & 2047
    bits = bloom_bits(b"")
    expected = [0xC5D2 & 2047, 0x4601 & 2047, 0x86F7 & 2047]
    assert bits == tuple((255 - e // 8, 1 << (e % 8)) for e in expected)


def test_the_bloom_skip_follows_the_filter() -> None:
    (a1, _), (a2, t2) = RECORDED_LOGS

    def terms(raw: dict[str, Any]) -> Any:
        return LogFilter.parse(raw).bloom_terms()
    assert may_match(RECORDED_BLOOM, terms({}))
    assert may_match(RECORDED_BLOOM, terms({"address": a1}))
    assert may_match(RECORDED_BLOOM, terms({"address": ["0x" + "11" * 20, a2]}))
    assert not may_match(RECORDED_BLOOM, terms({"address": "0x" + "11" * 20}))
    assert may_match(RECORDED_BLOOM, terms({"topics": [None, [topic(999), t2[1]]]}))
    assert not may_match(RECORDED_BLOOM, terms({"topics": [topic(1001)]}))
    # a bloom is per block: topics of different logs together still pass the skip
    assert may_match(RECORDED_BLOOM, terms({"address": a1, "topics": [t2[0]]}))


def test_empty_bloom_matches_only_a_filter_without_conditions() -> None:
    empty = bytes(256)
    assert may_match(empty, LogFilter.parse({}).bloom_terms())
    assert may_match(empty, LogFilter.parse({"topics": [None, []]}).bloom_terms())
    assert not may_match(empty, LogFilter.parse({"address": "0x" + "11" * 20}).bloom_terms())


A, B = b("0x" + "aa" * 20), b("0x" + "bb" * 20)
T = [b(topic(i)) for i in range(4)]


@pytest.mark.parametrize(("raw", "address", "topics", "expected"), [
    ({}, A, [], True),
    ({"address": "0x" + "aa" * 20}, A, [T[0]], True),
    ({"address": "0x" + "AA" * 20}, A, [T[0]], True),
    ({"address": ["0x" + "bb" * 20]}, A, [T[0]], False),
    ({"address": []}, A, [T[0]], True),
    ({"topics": [topic(0)]}, A, [T[0], T[1]], True),
    ({"topics": [topic(1)]}, A, [T[0], T[1]], False),
    ({"topics": [None, topic(1)]}, A, [T[0], T[1]], True),
    ({"topics": [None, topic(1)]}, A, [T[0]], False),
    ({"topics": [None, None]}, A, [T[0]], False),
    ({"topics": [[topic(2), topic(0)]]}, A, [T[0]], True),
    ({"topics": [[topic(2), topic(3)]]}, A, [T[0]], False),
    ({"topics": [[]]}, A, [T[0]], True),
    ({"topics": [[None, topic(3)]]}, A, [T[0]], True),
    ({"topics": [topic(0), [topic(1), topic(2)], None, topic(3)]}, A, T, True),
    ({"topics": [topic(0), [topic(1), topic(2)], None, topic(2)]}, A, T, False),
    ({"topics": []}, A, [], True),
    ({"topics": [topic(0)]}, A, [], False),
])
def test_the_json_rpc_filter_rules(raw: dict[str, Any], address: bytes, topics: list[bytes],
                                   expected: bool) -> None:
    assert log_matches(LogFilter.parse(raw), address, topics) is expected


@pytest.mark.parametrize("raw", [
    "x", [], {"address": "0x12"}, {"address": 5}, {"address": ["0x" + "zz" * 20]},
    {"topics": "x"}, {"topics": [None] * 5}, {"topics": [7]}, {"topics": [["0x12"]]},
    {"topics": [[7]]}, {"blockHash": "0x00"}, {"blockHash": "0x" + "00" * 32, "toBlock": "0x1"},
    {"fromBlcok": "0x1"},
])
def test_bad_criteria_are_invalid_params(raw: Any) -> None:
    with pytest.raises(RpcFailed) as err:
        LogFilter.parse(raw)
    assert err.value.error.code == -32602


def test_block_hash_can_be_refused_where_it_has_no_meaning() -> None:
    with pytest.raises(RpcFailed):
        LogFilter.parse({"blockHash": "0x" + "00" * 32}, block_hash_allowed=False)
    assert LogFilter.parse({"blockHash": "0x" + "01" * 32}).block_hash == b"\x01" * 32


def _receipt(logs: list[Any]) -> ConsensusReceipt:
    return ConsensusReceipt(2, 1, None, 21000, bytes(256), logs, b"")


def test_block_logs_count_log_index_across_the_block() -> None:
    header = Header(hash=b"\x0b" * 32, number=9, parent_hash=b"\x00" * 32, state_root=b"",
                    transactions_root=b"", receipts_root=b"", withdrawals_root=None,
                    base_fee=None, timestamp=0x10)
    block = ProvenBlock(header, (b"\x01" * 32, b"\x02" * 32, b"\x03" * 32),
                        (_receipt([[A, [T[0]], b"\x05"], [B, [], b""]]), _receipt([]),
                         _receipt([[A, [T[1], T[2]], b""]])), (Check.RECEIPTS_ROOT,))
    logs = block_logs(block)
    assert [(e["logIndex"], e["transactionIndex"], e["transactionHash"][:4]) for _, _, e in logs] \
        == [("0x0", "0x0", "0x01"), ("0x1", "0x0", "0x01"), ("0x2", "0x2", "0x03")]
    first = logs[0][2]
    assert first == {"address": "0x" + "aa" * 20, "topics": [topic(0)], "data": "0x05",
                     "blockHash": "0x" + "0b" * 32, "blockNumber": "0x9",
                     "blockTimestamp": "0x10", "transactionHash": "0x" + "01" * 32,
                     "transactionIndex": "0x0", "logIndex": "0x0", "removed": False}
    with pytest.raises(ValueError):
        block_logs(ProvenBlock(header, (), None, ()))


async def test_a_range_with_more_logs_than_are_kept_is_answered_whole(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The logs memo is bounded by logs: a range holding more is answered whole, and
    only the newest blocks' logs stay."""
    from bizra_node.validation import logs as logs_module
    from bizra_node.validation.logs import ProvenLogs

    monkeypatch.setattr(logs_module, "_LOGS_MEMO", 3)

    def block(n: int) -> ProvenBlock:
        header = Header(hash=bytes([n]) * 32, number=n, parent_hash=b"\x00" * 32,
                        state_root=b"", transactions_root=b"", receipts_root=b"",
                        withdrawals_root=None, base_fee=None, timestamp=0)
        return ProvenBlock(header, (b"\x01" * 32,),
                           (_receipt([[A, [T[0]], b""], [B, [T[1]], b""]]),), ())

    class Blocks:
        asked: list[list[bytes]] = []

        async def blocks(self, hashes: list[bytes], *, keep: bool = True) -> list[ProvenBlock]:
            self.asked.append(hashes)
            return [block(h[0]) for h in hashes]

    prover = Blocks()
    proven = ProvenLogs(None, None, prover, max_range=100)  # type: ignore[arg-type]
    hashes = [bytes([n]) * 32 for n in range(1, 6)]
    got = ProvenLogs._filtered(LogFilter.parse({}), await proven._logs_of(hashes))
    assert [(e["blockNumber"], e["logIndex"]) for e in got] == \
        [(hex(n), hex(i)) for n in range(1, 6) for i in range(2)]
    assert len(proven._logs) == 1 and proven._kept == 2  # the newest block only
    await proven._logs_of(hashes[-1:])
    assert prover.asked == [hashes]  # the kept block was not asked again
