"""The dashboard's image target (`--target web`): the standalone server, non-root, no secrets."""

from __future__ import annotations

from tests.infra.dockerfile import stages
from tests.infra.manifests import REPO

DOCKERFILE = REPO / "infra" / "docker" / "Dockerfile"


def test_web_target_runs_the_standalone_server_on_3000_as_non_root() -> None:
    web = stages(DOCKERFILE.read_text())
    stage = next(s for s in web if s.name == "web")
    assert stage.exec_form("ENTRYPOINT") == ["node", "/app/server.js"]
    assert [i.args for i in stage.all("EXPOSE")] == ["3000"]
    uid = stage.all("USER")[-1].args.split(":")[0]
    assert uid.isdigit() and int(uid) != 0
    env = stage.env()
    assert env["NEXT_TELEMETRY_DISABLED"] == "1"
    assert (env["PORT"], env["HOSTNAME"]) == ("3000", "0.0.0.0")
    # Only the standalone output reaches the runtime image: no sources, no dev dependencies.
    copies = [i.args for i in stage.all("COPY")]
    assert copies == ["--from=web-build /web/.next/standalone /app"]


def test_web_build_installs_from_the_lock_and_never_bakes_the_gateway_url() -> None:
    build = next(s for s in stages(DOCKERFILE.read_text()) if s.name == "web-build")
    runs = " ".join(i.args for i in build.all("RUN"))
    assert "npm ci" in runs and "npm install" not in runs
    for s in stages(DOCKERFILE.read_text()):
        if s.name in ("web-build", "web"):
            assert "HIVE_GATEWAY_INTERNAL_URL" not in s.env()
            assert "NEXT_PUBLIC_API_URL" not in s.env()
