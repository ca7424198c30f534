/**
 * application/problem+json as the dashboard shows it.
 *
 * Every gateway error is a Problem with a stable `code`; anything else that comes
 * back (a proxy's HTML 502, an empty body, a network failure) is folded into the
 * same shape so a screen has exactly one thing to render.
 */
import type { components } from "@/lib/api/schema";

export type Problem = components["schemas"]["Problem"];

/** An API call that failed; `problem` is what the operator sees. */
export class ApiProblem extends Error {
  readonly problem: Problem;

  constructor(problem: Problem) {
    super(describeProblem(problem));
    this.name = "ApiProblem";
    this.problem = problem;
  }

  get status(): number {
    return this.problem.status;
  }

  get code(): string {
    return this.problem.code;
  }
}

const STATUS_TITLES: Record<number, string> = {
  400: "Bad request",
  401: "Not logged in",
  403: "Forbidden",
  404: "Not found",
  409: "Conflict",
  413: "Too large",
  422: "Invalid input",
  429: "Too many requests",
  502: "Gateway could not reach the sandbox",
  503: "Unavailable",
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A Problem from whatever an error response carried (parsed JSON, text, or nothing). */
export function toProblem(status: number, body: unknown): Problem {
  if (isRecord(body) && typeof body.code === "string") {
    return {
      type: typeof body.type === "string" ? body.type : "about:blank",
      title: typeof body.title === "string" ? body.title : (STATUS_TITLES[status] ?? "Error"),
      status: typeof body.status === "number" ? body.status : status,
      code: body.code,
      detail: typeof body.detail === "string" ? body.detail : null,
      instance: typeof body.instance === "string" ? body.instance : null,
      extra: isRecord(body.extra) ? body.extra : null,
    };
  }
  const text = typeof body === "string" ? body.trim() : "";
  return {
    type: "about:blank",
    title: STATUS_TITLES[status] ?? (status === 0 ? "Network error" : `HTTP ${status}`),
    status,
    code: status === 0 ? "network_error" : status >= 500 ? "upstream_error" : "unexpected_response",
    // Non-problem bodies (HTML error pages) are not shown verbatim: only short plain text.
    detail: text && text.length <= 300 && !text.startsWith("<") ? text : null,
    instance: null,
    extra: null,
  };
}

/** One line for an alert: title, detail and the stable code an operator can search for. */
export function describeProblem(problem: Problem): string {
  const parts = [problem.title];
  if (problem.detail && problem.detail !== problem.title) parts.push(problem.detail);
  const state = problem.extra && typeof problem.extra.state === "string" ? problem.extra.state : null;
  if (state) parts.push(`current state: ${state}`);
  return `${parts.join(": ")} (${problem.code}, HTTP ${problem.status})`;
}

/** Read a failed fetch Response into an ApiProblem (problem+json, JSON, text or empty). */
export async function problemFromResponse(response: Response): Promise<ApiProblem> {
  const type = response.headers.get("content-type") ?? "";
  let body: unknown = null;
  try {
    const text = await response.text();
    body = type.includes("json") && text ? (JSON.parse(text) as unknown) : text;
  } catch {
    body = null;
  }
  return new ApiProblem(toProblem(response.status, body));
}
