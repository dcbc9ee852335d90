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
    assert (await d.dispatch(req("DELETE", "/health"))).status == 400
    assert (await d.dispatch(req("POST", "/api/v1/blocks/1"))).status == 400
    assert m.api_requests.get(("/health", "400")) == 1
    assert m.api_requests.get(("/api/v1/blocks/{param}", "400")) == 1


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
