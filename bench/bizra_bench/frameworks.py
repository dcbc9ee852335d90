"""The same lean handler on each framework and interface, for `bench api`.

The handler is the node's hot path in miniature: read a POST body, decode it with
msgspec, look the key up in a dict of stored bytes, splice the request id in. The
constant GET returns fixed bytes. Served by granian, like the node.

Note: no `from __future__ import annotations` here: FastAPI and Litestar read the
handlers' annotations at run time.

Targets (granian --factory): bizra_bench.frameworks:<name>_app with name in
raw_asgi, rsgi, starlette, fastapi, litestar.
"""


import os
from typing import Any

import msgspec

KEY = "0x" + "ab" * 32
STORED = {KEY: b'{"valid":true,"validatedAt":"2026-01-01T00:00:00.000Z","networkId":31337}'}
CONSTANT = b'{"success":true,"data":{"constant":true}}'


class Body(msgspec.Struct):
    txHash: str


_decode = msgspec.json.Decoder(Body).decode


def lean(body: bytes) -> bytes:
    data = STORED.get(_decode(body).txHash, b"null")
    rid = os.urandom(12).hex().encode()
    return b'{"success":true,"data":' + data + b',"meta":{"requestId":"' + rid + b'"}}'


JSON_CT = [(b"content-type", b"application/json")]


def raw_asgi_app() -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] == "POST":
            body = b""
            more = True
            while more:
                msg = await receive()
                body += msg.get("body", b"")
                more = msg.get("more_body", False)
            out = lean(body)
        else:
            out = CONSTANT
        await send({"type": "http.response.start", "status": 200, "headers": JSON_CT})
        await send({"type": "http.response.body", "body": out})
    return app


def rsgi_app() -> Any:
    class App:
        async def __rsgi__(self, scope: Any, proto: Any) -> None:
            out = lean(await proto()) if scope.method == "POST" else CONSTANT
            proto.response_bytes(200, [("content-type", "application/json")], out)
    return App()


def starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def post(request: Request) -> Response:
        return Response(lean(await request.body()), media_type="application/json")

    async def get(request: Request) -> Response:
        return Response(CONSTANT, media_type="application/json")

    return Starlette(routes=[Route("/lean", post, methods=["POST"]),
                             Route("/constant", get, methods=["GET"])])


def fastapi_app() -> Any:
    from fastapi import FastAPI, Request
    from fastapi.responses import Response

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.post("/lean")
    async def post(request: Request) -> Response:
        return Response(lean(await request.body()), media_type="application/json")

    @app.get("/constant")
    async def get() -> Response:
        return Response(CONSTANT, media_type="application/json")

    return app


def litestar_app() -> Any:
    from litestar import Litestar, Request, Response, get, post

    @post("/lean", status_code=200)
    async def lean_post(request: Request[Any, Any, Any]) -> Response[bytes]:
        return Response(lean(await request.body()), media_type="application/json")

    @get("/constant")
    async def constant() -> Response[bytes]:
        return Response(CONSTANT, media_type="application/json")

    return Litestar(route_handlers=[lean_post, constant], openapi_config=None)
