import { ApiProblem } from "@/lib/problem";

/** An error as the operator reads it: the problem+json title, detail and stable code. */
export function ProblemAlert({ error }: { error: unknown }) {
  if (!error) return null;
  const message = error instanceof ApiProblem ? error.message : error instanceof Error ? error.message : String(error);
  return (
    <div role="alert" data-testid="problem" className="rounded-md border border-danger bg-del px-3 py-2 text-danger">
      {message}
    </div>
  );
}
