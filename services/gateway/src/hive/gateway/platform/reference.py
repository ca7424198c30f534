"""The API reference page, `/schema/swagger`: Swagger UI served from the gateway itself.

Litestar's render plugins load their scripts from CDNs; an operator's gateway
may have no internet at all. The assets come from the `swagger-ui-bundle-v2`
package (Swagger UI 5, which reads OpenAPI 3.1) and are served under
`/schema/assets/`, and the page names nothing outside the gateway: no CDN, no
web fonts, no online validator badge. "Try it out" works with an operator
session: the page echoes the `csrftoken` cookie as `X-CSRFToken`, as the
dashboard does.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from litestar import Request, Router
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.static_files import create_static_files_router
from swagger_ui_bundle import swagger_ui_path

from hive.gateway.operators.sessions import CSRF_COOKIE, CSRF_HEADER

PAGE_PATH = "/swagger"
"""Under the OpenAPI path: the page is `/schema/swagger`."""
ASSETS = "/schema/assets"

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title}</title>
  <link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">
  <link rel="stylesheet" href="{assets}/swagger-ui.css">
  <style>body {{ margin: 0 }}</style>
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{assets}/swagger-ui-bundle.js"></script>
  <script>
    const csrf = () => document.cookie.split("; ")
      .find((c) => c.startsWith({cookie} + "="))?.split("=").slice(1).join("=");
    window.ui = SwaggerUIBundle({{
      url: {spec_url},
      dom_id: "#swagger-ui",
      deepLinking: true,
      validatorUrl: null,
      presets: [SwaggerUIBundle.presets.apis],
      requestInterceptor: (req) => {{
        const token = csrf();
        if (token) req.headers[{header}] = token;
        return req;
      }},
    }});
  </script>
</body>
</html>
"""


class LocalSwaggerPage(OpenAPIRenderPlugin):
    """Swagger UI whose every asset is a gateway URL."""

    def __init__(self) -> None:
        super().__init__(path=PAGE_PATH, favicon="", style="")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        """The page; the document itself is fetched from /schema/openapi.json."""
        title = f"{openapi_schema['info']['title']} API reference"
        return _PAGE.format(
            title=html.escape(title),
            assets=ASSETS,
            spec_url=json.dumps(self.get_openapi_json_route(request)),
            cookie=json.dumps(CSRF_COOKIE),
            header=json.dumps(CSRF_HEADER),
        ).encode()


def assets_router() -> Router:
    """`/schema/assets/...`: the Swagger UI files from the installed package (no auth)."""
    return create_static_files_router(
        path=ASSETS,
        directories=[Path(str(swagger_ui_path))],
        name="api-reference-assets",
        include_in_schema=False,
    )
