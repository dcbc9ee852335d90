# The node image: build the wheel in one stage, install it into a slim runtime.
#   docker build -t bizra-node .
# Used by deploy/compose (build) and deploy/kubernetes (image). Not built in `make test`:
# the machine it is developed on has no container engine (docs/scaling.md).

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir build==1.2.2 \
 && python -m build --wheel --outdir /wheels

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    BIZRA_HOST=0.0.0.0 BIZRA_PORT=8080 DATA_DIR=/var/lib/bizra
COPY --from=build /wheels /wheels
# uvloop (BIZRA_LOOP's default) is one of the wheel's dependencies
RUN pip install --no-cache-dir /wheels/*.whl \
 && rm -rf /wheels \
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
