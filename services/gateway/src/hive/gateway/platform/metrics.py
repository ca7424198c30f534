"""Prometheus metrics and the access log, from one ASGI middleware.

Each app instance owns its registry (tests build several apps in one
process). Routes are labelled by their template (`/api/projects/{project_id}`),
never by the concrete path, so label cardinality stays bounded.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

access_log = structlog.get_logger("hive.gateway.access")

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class GatewayMetrics:
    """The gateway's metric families."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "hive_gateway_http_requests",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "hive_gateway_http_request_duration_seconds",
            "Time to answer (to the last byte for streams)",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "hive_gateway_http_requests_in_flight", "Requests being answered", registry=r
        )
        self.relay_calls = Counter(
            "hive_gateway_relay_calls",
            "Model relay calls",
            ["provider", "model", "endpoint", "outcome"],
            registry=r,
        )
        self.relay_tokens = Counter(
            "hive_gateway_relay_tokens",
            "Tokens reported by upstreams",
            ["provider", "model", "kind"],
            registry=r,
        )
        self.relay_latency = Histogram(
            "hive_gateway_relay_call_duration_seconds",
            "Model relay call duration",
            ["provider", "endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.logins = Counter("hive_gateway_logins", "Login attempts", ["outcome"], registry=r)
        self.workspace_applies = Counter(
            "hive_workspace_apply",
            "Apply-back relay requests received, by outcome",
            ["result"],
            registry=r,
        )

    def relay_call(
        self,
        provider: str,
        model: str,
        endpoint: str,
        outcome: str,
        latency_s: float,
        input_tokens: int | None,
        output_tokens: int | None,
    ) -> None:
        """Count one relay call."""
        self.relay_calls.labels(provider, model, endpoint, outcome).inc()
        self.relay_latency.labels(provider, endpoint).observe(latency_s)
        if input_tokens:
            self.relay_tokens.labels(provider, model, "input").inc(input_tokens)
        if output_tokens:
            self.relay_tokens.labels(provider, model, "output").inc(output_tokens)

    def workspace_apply(self, result: str) -> None:
        """Count one apply-back relay request (applied, already_applied, conflict, refused)."""
        self.workspace_applies.labels(result).inc()

    def exposition(self) -> bytes:
        """The Prometheus text format."""
        return generate_latest(self.registry)


class ObservabilityMiddleware:
    """Counts, times and access-logs every routed HTTP request."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics, *, access_log_enabled: bool) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log_enabled = access_log_enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        http_scope: HTTPScope = scope  # narrowed by the type check above
        started = time.perf_counter()
        status = 500

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, observed_send)
        finally:
            self.metrics.in_flight.dec()
            elapsed = time.perf_counter() - started
            route = http_scope.get("path_template") or "unmatched"
            method = http_scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(elapsed)
            if self.access_log_enabled:
                client: Any = http_scope.get("client")
                access_log.info(
                    "request",
                    method=method,
                    path=http_scope["path"],
                    route=route,
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                    client=client[0] if client else None,
                )
