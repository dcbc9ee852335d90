"""Compression dictionary v1 for L2 values (``zstdd1:`` prefix).

Cached answers are small (300-600 bytes) and share their whole JSON skeleton;
plain zstd/zlib cannot learn that skeleton from one small value, so they save only
~25 %. A raw-content zstd dictionary holding the skeletons of the three answer
kinds (field names and the usual shapes, no chain data) brings small answers to
~48 % of their size (bench cache). The bytes below are frozen: values written with
``zstdd1:`` need exactly these bytes to be read. A new skeleton is a new version
(``zstdd2:``), with this one kept for reading.
"""

from __future__ import annotations

__all__ = ["DICTIONARY_V1"]

DICTIONARY_V1 = (
    b'{"valid":true,"validatedAt":"2025-01-01T00:00:00.000Z","networkId":1,"data":{'
    b'"address":"0x","balance":"0","nonce":0,"code":"0x","isContract":false,"blockNumber":1}}'
    b'{"valid":false,"validatedAt":"2025-01-01T00:00:00.000Z","networkId":1,'
    b'"error":"Transaction not found"}'
    b'{"valid":true,"validatedAt":"2025-01-01T00:00:00.000Z","networkId":1,"data":{'
    b'"number":1,"hash":"0x","parentHash":"0x","timestamp":1700000000,'
    b'"transactions":["0x","0x"],"miner":"0x","gasLimit":30000000,"gasUsed":21000,'
    b'"baseFeePerGas":"1000000000","size":1000,"finalized":true}}'
    b'{"valid":true,"validatedAt":"2025-01-01T00:00:00.000Z","networkId":1,"data":{'
    b'"hash":"0x","from":"0x","to":"0x","value":"0","gas":21000,"gasPrice":"1000000000",'
    b'"nonce":0,"blockNumber":1,"blockHash":"0x","timestamp":1700000000,'
    b'"status":"confirmed","confirmations":1,"finalized":true,"data":"0x","type":2}}'
)
