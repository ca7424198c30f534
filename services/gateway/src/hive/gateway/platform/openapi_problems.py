"""OpenAPI helpers: the problem+json answers a route may give, declared once."""

from __future__ import annotations

from litestar.openapi.datastructures import ResponseSpec

from hive.contracts.errors import PROBLEM_CONTENT_TYPE, Problem

_DESCRIPTIONS = {
    400: "Malformed request",
    401: "Not authenticated (or the token is expired or revoked)",
    403: "Authenticated but not allowed (CSRF token, token scope)",
    404: "Not found (or not in this project)",
    409: "Conflict with the current state",
    413: "Payload too large",
    422: "Validation failed",
    429: "Rate limited; see Retry-After",
    502: "An upstream (sandbox or model provider) failed",
    503: "The gateway is still starting",
}


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """ResponseSpecs of problem+json answers with these statuses."""
    return {
        s: ResponseSpec(
            data_container=Problem,
            description=_DESCRIPTIONS.get(s, "Error"),
            media_type=PROBLEM_CONTENT_TYPE,
            generate_examples=False,
        )
        for s in statuses
    }


# Every route behind the operator session can answer these.
SESSION_PROBLEMS = (400, 401, 403, 422, 503)
