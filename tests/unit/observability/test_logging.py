"""JSON log lines: redaction of secrets, the request id on every line, upstream errors."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bizra_node.api import Dispatcher, Request, Response, Route
from bizra_node.errors import UpstreamError
from bizra_node.observability import (
    JsonFormatter,
    NodeMetrics,
    RequestIdFilter,
    UpstreamErrorLog,
    redact,
)
from bizra_node.observability.logging import ConsoleFormatter


@pytest.mark.parametrize(("text", "secret"), [
    ("connect to postgresql://app:s3cr3t@db:5432/node failed", "s3cr3t"),
    ("redis://:hunter2@cache:6379/0", "hunter2"),
    ("GET https://rpc.example/v1?apikey=AbC123xyz&chain=1", "AbC123xyz"),
    ("https://rpc.example/?api_key=k-999&x=1", "k-999"),
    ("url=https://rpc.example/rpc?token=tok_abcdef", "tok_abcdef"),
    ("https://rpc.example/x?chain=1&access_token=zzzSECRET", "zzzSECRET"),
    ("https://mainnet.infura.io/v3/0123456789abcdef0123456789abcdef", "0123456789abcdef0123"),
    ("https://eth-mainnet.g.alchemy.com/v2/AbCdEfGhIjKlMnOpQrStUv12", "AbCdEfGhIjKlMnOpQrStUv12"),
])
def test_secrets_are_redacted(text: str, secret: str) -> None:
    assert secret not in redact(text)
    assert "***" in redact(text)


def test_data_is_not_mistaken_for_secrets() -> None:
    tx = "0x" + "ab" * 32
    text = f"GET http://node/api/v1/transactions/{tx}?networkId=1"
    assert redact(text) == text
    assert redact("plain message with key words: apikey") == "plain message with key words: apikey"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The root logger writing JSON lines into a buffer, as configure_logging sets it up."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield buf
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def lines(buf: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buf.getvalue().splitlines() if line.strip()]


def ours(buf: io.StringIO) -> list[dict[str, object]]:
    return [line for line in lines(buf) if str(line["logger"]).startswith("bizra_node")]


def test_secrets_in_messages_fields_and_tracebacks_never_print(captured: io.StringIO) -> None:
    log = logging.getLogger("bizra_node.test")
    url = "https://user:pa55w0rd@rpc.example/?apikey=KEY123"
    log.warning("cannot reach %s", url, extra={"upstream": url, "urls": [url]})
    try:
        raise RuntimeError(f"boom at {url}")
    except RuntimeError:
        log.exception("failed")
    out = captured.getvalue()
    assert "pa55w0rd" not in out and "KEY123" not in out
    first = lines(captured)[0]
    assert first["upstream"] == "https://***@rpc.example/?apikey=***"


async def test_every_line_while_handling_a_request_carries_its_id(captured: io.StringIO) -> None:
    log = logging.getLogger("bizra_node.handler")

    async def handler(req: Request) -> Response:
        log.info("inside the handler")
        raise UpstreamError("down", kind="connect", upstream="http://a")

    dispatcher = Dispatcher([Route("/x", ("GET",), handler)], 1024, NodeMetrics())
    req = Request("GET", "/x", "", lambda _: None, b"", "rid-123")
    resp = await dispatcher.dispatch(req)
    assert resp.status == 503
    log.info("after the request")
    got = [line for line in lines(captured) if str(line["logger"]).startswith("bizra_node")]
    inside = [line for line in got if line["msg"] != "after the request"]
    assert inside and all(line.get("request_id") == "rid-123" for line in inside)
    assert "request_id" not in got[-1]


async def test_per_request_lines_only_at_debug(captured: io.StringIO) -> None:
    async def handler(req: Request) -> Response:
        return Response(200, b"{}")

    api_log = logging.getLogger("bizra_node.api")
    api_log.setLevel(logging.INFO)
    try:
        quiet = Dispatcher([Route("/x", ("GET",), handler)], 1024, None)
        await quiet.dispatch(Request("GET", "/x", "", lambda _: None, b"", "r1"))
        assert ours(captured) == []
        api_log.setLevel(logging.DEBUG)
        chatty = Dispatcher([Route("/x", ("GET",), handler)], 1024, None)
        await chatty.dispatch(Request("GET", "/x", "", lambda _: None, b"", "r2"))
        (line,) = ours(captured)
        assert line["level"] == "debug" and line["route"] == "/x" and line["status"] == 200
        assert line["request_id"] == "r2"
    finally:
        api_log.setLevel(logging.NOTSET)


def test_upstream_errors_name_upstream_and_method_and_are_throttled(
        captured: io.StringIO) -> None:
    now = [100.0]
    errors = UpstreamErrorLog(logging.getLogger("bizra_node.upstream"), interval=1.0,
                              clock=lambda: now[0])
    exc = UpstreamError("upstream timed out", kind="timeout", upstream="http://a")
    assert errors.record(exc, ["eth_getTransactionByHash"])
    assert not errors.record(exc, ["eth_getTransactionByHash"])
    assert not errors.record(exc, ["eth_getTransactionByHash"])
    assert errors.record(exc, ["eth_blockNumber"])  # another method is another line
    now[0] += 1.5
    assert errors.record(exc, ["eth_getTransactionByHash"])
    got = ours(captured)
    assert [(g["upstream"], g["method"], g["kind"], g["suppressed"]) for g in got] == [
        ("http://a", "eth_getTransactionByHash", "timeout", 0),
        ("http://a", "eth_blockNumber", "timeout", 0),
        ("http://a", "eth_getTransactionByHash", "timeout", 2),
    ]
    assert UpstreamErrorLog.method_of(["b", "a", "b"]) == "batch[a,b]"


def test_console_lines_are_redacted_and_carry_the_request_id() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "to %s", ("redis://:pw@h",),
                               None)
    record.request_id = "abc"
    line = ConsoleFormatter().format(record)
    assert "pw@" not in line and "[request_id=abc]" in line


async def test_a_5xx_storm_writes_one_line_a_second(captured: io.StringIO) -> None:
    async def down(req: Request) -> Response:
        raise UpstreamError("no upstream could answer", kind="connect", upstream="http://a")

    dispatcher = Dispatcher([Route("/x", ("GET",), down)], 1024, NodeMetrics())
    for i in range(100):
        resp = await dispatcher.dispatch(Request("GET", "/x", "", lambda _: None, b"", f"r{i}"))
        assert resp.status == 503
    failed = [line for line in ours(captured) if line["msg"].startswith("request failed")]
    assert len(failed) == 1 and failed[0]["request_id"] == "r0"
