"""Codec: round trips for every codec and level, the 10 % rule, legacy formats, and
corrupt values as CodecError (which the cache turns into a miss)."""

from __future__ import annotations

import base64
import gzip
import json
import os
import zlib

import pytest
import zstandard

from bizra_node.cache import CODEC_NAMES, Codec, CodecError

ANSWER = json.dumps({
    "valid": True, "validatedAt": "2025-06-01T10:00:00.000Z", "networkId": 1,
    "data": {"hash": "0x" + "ab" * 32, "from": "0x" + "12" * 20, "to": "0x" + "34" * 20,
             "value": "1000000000000000000", "gas": 21000, "gasPrice": "2000000000",
             "nonce": 7, "blockNumber": 123, "blockHash": "0x" + "cd" * 32,
             "timestamp": 1700000000, "status": "confirmed", "confirmations": 10,
             "finalized": True, "data": "0x", "type": 2}}, separators=(",", ":")).encode()


@pytest.mark.parametrize(("name", "level"), [("zstd-dict", 1), ("zstd-dict", 3), ("zstd", -1),
                                             ("zstd", 3), ("zstd", 19), ("zlib", 1), ("zlib", 9),
                                             ("raw", 0)])
@pytest.mark.parametrize("payload", [ANSWER, ANSWER * 50, b"", b"x", os.urandom(3000)])
def test_round_trip(name: str, level: int, payload: bytes) -> None:
    codec = Codec(name, level)  # type: ignore[arg-type]
    stored = codec.encode(payload)
    assert codec.decode(stored) == payload
    # any codec reads what any other wrote
    for other in CODEC_NAMES:
        assert Codec(other).decode(stored) == payload


def test_compresses_only_when_it_saves_more_than_ten_percent() -> None:
    codec = Codec("zstd-dict", 3)
    assert codec.encode(ANSWER).startswith(b"zstdd1:")
    assert len(codec.encode(ANSWER)) < len(ANSWER) * 0.7
    noise = os.urandom(500)
    assert codec.encode(noise) == b"raw:" + noise
    assert Codec("zstd").encode(ANSWER * 20).startswith(b"zstd:")
    assert Codec("zlib", 6).encode(ANSWER * 20).startswith(b"zlib:")
    assert Codec("raw").encode(ANSWER) == b"raw:" + ANSWER


def test_dictionary_beats_plain_zstd_on_small_answers() -> None:
    with_dict = len(Codec("zstd-dict", 3).compress(ANSWER))
    plain = len(Codec("zstd", 3).compress(ANSWER))
    assert with_dict < plain


def test_reads_the_replaced_systems_formats() -> None:
    codec = Codec()
    # raw:<json>
    assert codec.decode(b"raw:" + ANSWER) == ANSWER
    # gzip:<base64 of gzip>, the replaced system's later format
    assert codec.decode(b"gzip:" + base64.b64encode(gzip.compress(ANSWER))) == ANSWER
    # the oldest: bare base64 of the JSON (its "compression")
    assert codec.decode(base64.b64encode(ANSWER)) == ANSWER


@pytest.mark.parametrize("blob", [
    b"zstdd1:not zstd at all",
    b"zstd:\x28\xb5\x2f\xfd garbage",
    b"zlib:\x78\x9c\x01\x02",
    b"gzip:!!!not base64!!!",
    b"gzip:" + base64.b64encode(b"not gzip"),
    b"{not base64 and no prefix}",
    b"\xff\xfe\x00",
])
def test_corrupt_values_raise_codec_error(blob: bytes) -> None:
    with pytest.raises(CodecError):
        Codec().decode(blob)


def test_truncated_values_raise_codec_error() -> None:
    codec = Codec("zlib", 6)
    stored = codec.encode(ANSWER * 20)
    with pytest.raises(CodecError):
        codec.decode(stored[:-10])
    zstored = Codec("zstd", 3).encode(ANSWER * 20)
    with pytest.raises(CodecError):
        codec.decode(zstored[:-10])


def test_decoding_is_bounded() -> None:
    bomb = b"\0" * 2_000_000
    small = Codec(max_decoded=1_000_000)
    for writer in (Codec("zstd"), Codec("zlib", 6), Codec("zstd-dict")):
        with pytest.raises(CodecError):
            small.decode(writer.encode(bomb))
    # a zstd frame without a content size (not written by us) is bounded too
    frame = zstandard.ZstdCompressor(write_content_size=False).compress(bomb)
    with pytest.raises(CodecError):
        small.decode(b"zstd:" + frame)
    assert Codec().decode(b"zstd:" + zstandard.ZstdCompressor(
        write_content_size=False).compress(ANSWER)) == ANSWER
    gz = b"gzip:" + base64.b64encode(gzip.compress(bomb))
    with pytest.raises(CodecError):
        small.decode(gz)
    assert zlib.decompress(Codec("zlib", 1).compress(ANSWER)) == ANSWER


def test_rejects_bad_configuration() -> None:
    with pytest.raises(ValueError):
        Codec("lz4")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Codec("zlib", 12)
    with pytest.raises(ValueError):
        Codec("zstd", 30)
