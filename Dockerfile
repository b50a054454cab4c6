# tenantmail for production: the runtime lock only (no sandbox, no moto, no test tools), non-root.
#   docker build -t tenantmail .
#   docker run tenantmail migrate | serve | worker      (compose.yaml runs all three; docs/deploy.md)

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md requirements.lock ./
COPY src ./src
COPY deploy/install-runtime.sh ./deploy/
# the same script tests/deploy/test_runtime_install.py runs and serves mail from
RUN ./deploy/install-runtime.sh /opt/tenantmail /src

FROM python:3.11-slim
ENV PATH=/opt/tenantmail/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TENANTMAIL_HOST=0.0.0.0 \
    TENANTMAIL_LOG_FORMAT=json \
    TENANTMAIL_VAR_DIR=/var/lib/tenantmail
RUN groupadd --system --gid 10001 tenantmail \
 && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /var/lib/tenantmail tenantmail
COPY --from=build /opt/tenantmail /opt/tenantmail
USER 10001:10001
WORKDIR /var/lib/tenantmail
# 8000: the API (serve)   8001: a worker's /healthz, /readyz, /metrics
EXPOSE 8000 8001
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-m", "tenantmail.entrypoints.healthcheck"]
ENTRYPOINT ["tenantmail"]
CMD ["serve"]
