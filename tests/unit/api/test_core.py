"""The dispatcher's request metrics: route templates, bounded labels, statuses, off switch."""

from __future__ import annotations

from bizra_node.api import Dispatcher, Request, Response, Route
from bizra_node.api.routing import UNMATCHED
from bizra_node.errors import UpstreamUnavailable
from bizra_node.observability import NodeMetrics


async def ok(req: Request) -> Response:
    return Response(200, b"{}")


async def down(req: Request) -> Response:
    raise UpstreamUnavailable("no upstream could answer")


async def crash(req: Request) -> Response:
    raise RuntimeError("bug")


def build(metrics: NodeMetrics | None) -> Dispatcher:
    return Dispatcher([Route("/health", ("GET",), ok),
                       Route("/api/v1/validate/block", ("POST",), down),
                       Route("/crash", ("GET",), crash),
                       Route("/api/v1/blocks/{number}", ("GET",), ok)], 1024, metrics)


def req(method: str, path: str) -> Request:
    return Request(method, path, "", lambda _: None, b"", "rid")


async def test_requests_are_counted_by_route_template_and_status() -> None:
    m = NodeMetrics()
    d = build(m)
    for path in ("/health", "/health/", "/api/v1/blocks/1", "/api/v1/blocks/latest"):
        assert (await d.dispatch(req("GET", path))).status == 200
    assert (await d.dispatch(req("POST", "/api/v1/validate/block"))).status == 503
    assert (await d.dispatch(req("GET", "/crash"))).status == 500
    assert m.api_requests.get(("/health", "200")) == 2
    assert m.api_requests.get(("/api/v1/blocks/{param}", "200")) == 2
    assert m.api_requests.get(("/api/v1/validate/block", "503")) == 1
    assert m.api_requests.get(("/crash", "500")) == 1
    assert m.api_latency.count(("/api/v1/blocks/{param}", "200")) == 2


async def test_unknown_paths_share_one_label() -> None:
    m = NodeMetrics()
    d = build(m)
    for i in range(50):
        assert (await d.dispatch(req("GET", f"/scan/{i}/admin.php"))).status == 404
    assert (await d.dispatch(req("GET", "/api/v1/blocks/1/extra"))).status == 400
    assert m.api_requests.values == {(UNMATCHED, "404"): 50,
                                     ("/api/v1/blocks/{param}", "400"): 1}


async def test_a_wrong_method_is_labelled_with_its_route() -> None:
    m = NodeMetrics()
    d = build(m)
    assert (await d.dispatch(req("DELETE", "/health"))).status == 405
    assert (await d.dispatch(req("POST", "/api/v1/blocks/1"))).status == 405
    assert m.api_requests.get(("/health", "405")) == 1
    assert m.api_requests.get(("/api/v1/blocks/{param}", "405")) == 1


async def test_metrics_off_records_nothing() -> None:
    d = build(None)
    assert (await d.dispatch(req("GET", "/health"))).status == 200


async def test_routes_added_later_are_labelled() -> None:
    m = NodeMetrics()
    d = build(m)
    d.router.add(Route("/metrics", ("GET",), ok))
    await d.dispatch(req("GET", "/metrics"))
    assert m.api_requests.get(("/metrics", "200")) == 1
    assert d.route(req("GET", "/metrics")).handler is ok


async def refuse_with_a_huge_number(req: Request) -> Response:
    from bizra_node.errors import ValidationError

    raise ValidationError("bad number", {"value": 10**5000, "other": object()})


async def test_an_error_that_cannot_be_described_still_gets_its_envelope() -> None:
    import json

    m = NodeMetrics()
    d = Dispatcher([Route("/bad", ("POST",), refuse_with_a_huge_number)], 1024, m)
    resp = await d.dispatch(req("POST", "/bad"))
    assert resp.status == 400
    body = json.loads(resp.body)
    assert body["success"] is False and body["error"]["code"] == "VALIDATION_ERROR"
    assert body["meta"]["requestId"] == "rid"
    assert m.api_requests.get(("/bad", "400")) == 1


async def test_a_method_a_path_lacks_is_a_405_naming_the_others() -> None:
    d = Dispatcher([Route("/a", ("GET",), ok), Route("/a", ("POST",), ok),
                    Route("/api/v1/blocks/{number}", ("GET",), ok)], 1024)
    resp = await d.dispatch(req("DELETE", "/a"))
    assert resp.status == 405 and ("allow", "GET, POST") in resp.headers
    resp = await d.dispatch(req("PUT", "/api/v1/blocks/7"))
    assert resp.status == 405 and ("allow", "GET") in resp.headers
    resp = await d.dispatch(req("PUT", "/api/v1/blocks/7/8"))
    assert resp.status == 405
    assert (await d.dispatch(req("GET", "/api/v1/blocks/7/8"))).status == 400


async def test_a_path_naming_a_network_not_served_is_a_400_saying_so() -> None:
    from bizra_node.api import network_not_found

    dispatcher = Dispatcher([Route("/rpc/10", ("POST",), ok)], 1024,
                            not_found=network_not_found({10, 31337}))
    for path in ("/rpc/5", "/api/v1/5/validate/transaction", "/api/v1/5"):
        resp = await dispatcher.dispatch(req("POST", path))
        assert resp.status == 400, path
        assert b'"unsupported_network"' in resp.body
    for path in ("/rpc/10/x", "/api/v1/10/nothing", "/rpc/abc", "/elsewhere/5"):
        assert (await dispatcher.dispatch(req("POST", path))).status == 404, path
    assert (await dispatcher.dispatch(req("POST", "/rpc/10"))).status == 200
