"""The gateway's OpenAPI document: `/schema`, `/schema/openapi.yaml`, `/schema/swagger`."""

from __future__ import annotations

from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, YamlRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from hive.gateway.operators.sessions import SESSION_COOKIE
from hive.gateway.platform.reference import LocalSwaggerPage


def openapi_config() -> OpenAPIConfig:
    """`/schema` (JSON, YAML) and the local Swagger page, with the four security schemes."""
    return OpenAPIConfig(
        title="OpenHive gateway",
        version="0.1.0",
        path="/schema",
        description=(
            "The OpenHive gateway: operator sessions, projects, project-scoped Work Runs "
            "(dev tasks), task tokens and the model relay. This document is `/schema` "
            "(also `/schema/openapi.json`, `/schema/openapi.yaml`); the readable page is "
            "`/schema/swagger`, served with local assets."
        ),
        render_plugins=[
            JsonRenderPlugin(path=["/", "/openapi.json"]),
            YamlRenderPlugin(),
            LocalSwaggerPage(),
        ],
        use_handler_docstrings=True,
        components=Components(
            security_schemes={
                "operatorSession": SecurityScheme(
                    type="apiKey",
                    name=SESSION_COOKIE,
                    security_scheme_in="cookie",
                    description="Session cookie from POST /api/auth/login; state-changing "
                    "methods also need the X-CSRFToken header (value of the csrftoken cookie).",
                ),
                "internalSecret": SecurityScheme(
                    type="apiKey", name="X-Internal-Secret", security_scheme_in="header"
                ),
                "taskToken": SecurityScheme(
                    type="http", scheme="bearer", description="A task token (hvt.…)"
                ),
                "workspaceApplyToken": SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description="HIVE_WORKSPACE_APPLY_RELAY_TOKEN (the sandbox's apply-back relay)",
                ),
            }
        ),
    )
