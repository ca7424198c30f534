import { describe, expect, it } from "vitest";
import { ApiProblem, describeProblem, problemFromResponse, toProblem } from "./problem";

describe("problem+json", () => {
  it("keeps the gateway's code, detail and state", () => {
    const p = toProblem(409, {
      type: "about:blank",
      title: "Conflict",
      status: 409,
      code: "invalid_state_transition",
      detail: "cannot approve a task in state running",
      extra: { state: "running" },
    });
    expect(p.code).toBe("invalid_state_transition");
    expect(describeProblem(p)).toBe(
      "Conflict: cannot approve a task in state running: current state: running (invalid_state_transition, HTTP 409)",
    );
  });

  it("folds a non-problem HTML error page into an upstream_error without echoing the HTML", () => {
    const p = toProblem(502, "<html><body>Bad Gateway</body></html>");
    expect(p.code).toBe("upstream_error");
    expect(p.detail).toBeNull();
    expect(describeProblem(p)).toContain("HTTP 502");
  });

  it("names a network failure", () => {
    expect(toProblem(0, null).code).toBe("network_error");
  });

  it("reads a problem+json Response into an ApiProblem", async () => {
    const response = new Response(
      JSON.stringify({ title: "Unauthorized", status: 401, code: "unauthorized", detail: "log in" }),
      { status: 401, headers: { "content-type": "application/problem+json" } },
    );
    const err = await problemFromResponse(response);
    expect(err).toBeInstanceOf(ApiProblem);
    expect(err.status).toBe(401);
    expect(err.code).toBe("unauthorized");
    expect(err.message).toBe("Unauthorized: log in (unauthorized, HTTP 401)");
  });

  it("survives a JSON content type with a broken body", async () => {
    const response = new Response("{not json", { status: 500, headers: { "content-type": "application/json" } });
    const err = await problemFromResponse(response);
    expect(err.code).toBe("upstream_error");
  });
});

describe("csrfToken", () => {
  it("reads the csrftoken cookie among others", async () => {
    const { csrfToken } = await import("./api/client");
    expect(csrfToken("a=1; csrftoken=abc%3D; b=2")).toBe("abc=");
    expect(csrfToken("hive_session=x")).toBeNull();
  });
});
