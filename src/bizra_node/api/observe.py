"""GET /metrics (Prometheus text over all workers) and GET /api/metrics (the runbook's
JSON). Both read the aggregated metrics; neither is on the validation hot path.

/api/metrics answers the document at the top level (``curl … | jq .cache.hit_rate``,
as the runbook in docs/operations.md queries it), with ``meta.requestId`` beside it.
"""

from __future__ import annotations

import msgspec

from ..observability import CONTENT_TYPE, Exporter, summarize
from .http import Request, Response
from .routing import Route

__all__ = ["MetricsEndpoints"]

_encode = msgspec.json.Encoder().encode
_NO_STORE = [("cache-control", "no-store")]


class MetricsEndpoints:
    def __init__(self, exporter: Exporter) -> None:
        self._exporter = exporter
        self.routes = [Route("/metrics", ("GET",), self.prometheus, scope="metrics"),
                       Route("/api/metrics", ("GET",), self.json, scope="metrics")]

    async def prometheus(self, req: Request) -> Response:
        return Response(200, await self._exporter.render(), CONTENT_TYPE, list(_NO_STORE))

    async def json(self, req: Request) -> Response:
        doc = summarize(await self._exporter.families())
        doc["meta"] = {"requestId": req.request_id,
                       "multiprocess": self._exporter.multiprocess}
        return Response(200, _encode(doc), headers=list(_NO_STORE))
