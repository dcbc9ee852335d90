# The node image: build the wheel in one stage, install it into a slim runtime.
#   docker build -t bizra-node .
# Used by deploy/compose (build) and deploy/kubernetes (image). Not built in `make test`:
# the machine it is developed on has no container engine (docs/scaling.md).

FROM python:3.11-slim AS build
WORKDIR /src
# The build backend as locked (requirements/tools.txt), then the wheel of this checkout
# alone: its dependencies come from the lock in the next stage, never from a resolver.
COPY requirements/tools.txt requirements/
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements/tools.txt
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    BIZRA_HOST=0.0.0.0 BIZRA_PORT=8080 DATA_DIR=/var/lib/bizra
# Every dependency exactly as locked, with hashes (requirements/runtime.txt, `make lock`;
# uvloop, BIZRA_LOOP's default, among them), then the node's wheel without resolving.
COPY requirements/runtime.txt /tmp/runtime.txt
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --require-hashes --no-deps -r /tmp/runtime.txt \
 && pip install --no-cache-dir --no-deps /wheels/*.whl \
 && rm -rf /wheels /tmp/runtime.txt \
 && useradd --system --uid 10001 --home-dir /var/lib/bizra --create-home bizra
USER 10001
WORKDIR /var/lib/bizra
EXPOSE 8080
# Liveness; readiness (/ready) is the balancer's or Kubernetes' business.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=2).status == 200 else 1)"]
# BIZRA_NODE_URL, DATABASE_URL and REDIS_URL come from the deployment: without them the
# node would try to start a devnet and an embedded PostgreSQL, which this image lacks.
CMD ["bizra-node", "serve"]
