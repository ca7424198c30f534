/**
 * The gateway API, typed from its OpenAPI document (lib/api/schema.d.ts, generated:
 * `npm run api:generate`). Same-origin by default; NEXT_PUBLIC_API_URL only for
 * deployments that do not proxy.
 */
import createClient, { type Middleware } from "openapi-fetch";
import { ApiProblem, toProblem } from "@/lib/problem";
import type { paths } from "./schema";

export const API_BASE = process.env.NEXT_PUBLIC_API_URL ?? "";

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** The csrftoken cookie the gateway sets for this session (readable by design). */
export function csrfToken(cookies: string = typeof document === "undefined" ? "" : document.cookie): string | null {
  for (const part of cookies.split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name === "csrftoken") return decodeURIComponent(rest.join("="));
  }
  return null;
}

const csrf: Middleware = {
  onRequest({ request }) {
    if (UNSAFE.has(request.method)) {
      const token = csrfToken();
      if (token) request.headers.set("X-CSRFToken", token);
    }
    return request;
  },
};

export const api = createClient<paths>({ baseUrl: API_BASE, credentials: "include" });
api.use(csrf);

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The data of a successful call; an ApiProblem otherwise (also for a network failure). */
export async function unwrap<T>(call: Promise<Answer<T>>): Promise<T> {
  let answer: Answer<T>;
  try {
    answer = await call;
  } catch (error) {
    throw new ApiProblem({ ...toProblem(0, null), detail: error instanceof Error ? error.message : null });
  }
  if (answer.response.ok) return answer.data as T;
  throw new ApiProblem(toProblem(answer.response.status, answer.error));
}
