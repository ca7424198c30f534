"use client";

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { ProblemAlert } from "@/components/problem-alert";
import { Button } from "@/components/ui/button";
import { Dialog } from "@/components/ui/dialog";
import { useShortcuts } from "@/components/use-shortcuts";
import { api, unwrap } from "@/lib/api/client";
import type { components } from "@/lib/api/schema";
import { agentKey, type PendingRequest } from "./queries";

type Choice = "approve" | "decline";

const PATHS = {
  approve: "/api/agents/{agent_id}/runs/{run_id}/approve",
  decline: "/api/agents/{agent_id}/runs/{run_id}/decline",
} as const;

type Grant = components["schemas"]["RunBudget"];

/** The grant's fields, prefilled with one default budget (RunBudget in libs/contracts agents.py). */
const GRANT_FIELDS: ReadonlyArray<[keyof Grant, string, number]> = [
  ["model_calls", "Model calls", 20],
  ["tokens", "Tokens", 200_000],
  ["wall_s", "Wall time (s)", 900],
];

function question(choice: Choice, pending: PendingRequest): string {
  if (pending.reason === "budget") {
    return choice === "approve" ? "Grant this run more budget and let it continue?" : "Decline more budget? The run is cancelled.";
  }
  return choice === "approve"
    ? `Let the agent call ${pending.tool ?? "the tool"} with these arguments?`
    : `Decline the ${pending.tool ?? "tool"} call? The model is told it was declined.`;
}

/**
 * A run's open request (a tool call needing approval, or an exhausted budget) with
 * Approve / Decline, each confirmed in a dialog that shows the gateway's problem+json on
 * error. The decision names the request it answers: a request that changed meanwhile is
 * a 409, not a decision about something else. With `shortcuts`, `a` and `d` ask too.
 */
export function Decision({
  agentId,
  runId,
  pending,
  shortcuts = false,
}: {
  agentId: string;
  runId: string;
  pending: PendingRequest | null;
  shortcuts?: boolean;
}) {
  const queryClient = useQueryClient();
  const [choice, setChoice] = useState<Choice | null>(null);
  // The request a dialog was opened for stays on screen while the dialog is open, even
  // when a poll says it was decided meanwhile: confirming then shows the gateway's 409.
  const [asked, setAsked] = useState<PendingRequest | null>(null);
  const request = choice && asked ? asked : pending;
  const decide = useMutation({
    mutationFn: ({ choice, comment, grant }: { choice: Choice; comment: string | null; grant: Grant | null }) =>
      unwrap(
        api.POST(PATHS[choice], {
          params: { path: { agent_id: agentId, run_id: runId } },
          body: { request_id: request?.request_id ?? null, comment, ...(grant ? { grant } : {}) },
        }),
      ),
    onSuccess: async () => {
      setChoice(null);
      await queryClient.invalidateQueries({ queryKey: agentKey(agentId) });
    },
  });
  const ask = (c: Choice) => {
    if (!pending) return;
    decide.reset();
    setAsked(pending);
    setChoice(c);
  };
  useShortcuts(
    shortcuts && pending
      ? {
          a: (e) => {
            e.preventDefault();
            ask("approve");
          },
          d: (e) => {
            e.preventDefault();
            ask("decline");
          },
        }
      : {},
  );

  function confirm(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    if (!choice) return;
    const form = new FormData(e.currentTarget);
    const comment = String(form.get("comment") ?? "").trim() || null;
    let grant: Grant | null = null;
    if (choice === "approve" && request?.reason === "budget") {
      // Every field is sent: the gateway fills a missing one with its default, not zero.
      const value = (name: keyof Grant) => Math.max(0, Number(form.get(name)) || 0);
      grant = { model_calls: Math.round(value("model_calls")), tokens: Math.round(value("tokens")), wall_s: value("wall_s") };
    }
    decide.mutate({ choice, comment, grant });
  }

  if (!request) return null;
  return (
    <div className="flex flex-col gap-2 rounded-lg border border-warn bg-panel p-3" data-testid="pending-request" data-reason={request.reason}>
      <div className="flex flex-wrap items-center gap-2">
        <span className="font-medium">{request.reason === "budget" ? "Budget exhausted" : `Approval requested: ${request.tool ?? "tool"}`}</span>
        <span className="font-mono text-xs text-muted">{request.request_id}</span>
      </div>
      <p className="text-muted">{request.why}</p>
      {request.arguments ? (
        <pre className="max-h-40 overflow-auto rounded bg-bg p-2 font-mono text-xs" aria-label="Tool arguments">
          {JSON.stringify(request.arguments, null, 2)}
        </pre>
      ) : null}
      <div className="flex gap-2" role="group" aria-label={`Decide request ${request.request_id}`}>
        <Button variant="primary" onClick={() => ask("approve")} aria-keyshortcuts={shortcuts ? "a" : undefined}>
          {request.reason === "budget" ? "Grant" : "Approve"}
        </Button>
        <Button variant="danger" onClick={() => ask("decline")} aria-keyshortcuts={shortcuts ? "d" : undefined}>
          Decline
        </Button>
      </div>
      <Dialog open={choice !== null} onClose={() => setChoice(null)} title={choice === "approve" ? `Approve ${request.request_id}?` : `Decline ${request.request_id}?`}>
        {choice ? (
          <form onSubmit={confirm} className="flex flex-col gap-3">
            <p>{question(choice, request)}</p>
            {choice === "approve" && request.reason === "budget" ? (
              <fieldset className="grid grid-cols-3 gap-2">
                <legend className="mb-1 text-muted">Grant (added to the run&apos;s limits)</legend>
                {GRANT_FIELDS.map(([name, label, initial]) => (
                  <label key={name} className="flex flex-col gap-1">
                    {label}
                    <input name={name} type="number" min={0} step="any" required defaultValue={initial} className="rounded-md border border-line bg-bg px-2 py-1" />
                  </label>
                ))}
              </fieldset>
            ) : null}
            <label className="flex flex-col gap-1">
              Comment (optional)
              <textarea name="comment" rows={2} className="rounded-md border border-line bg-bg px-2 py-1.5" />
            </label>
            <ProblemAlert error={decide.error} />
            <div className="flex justify-end gap-2">
              <Button onClick={() => setChoice(null)}>Back</Button>
              <Button type="submit" variant={choice === "approve" ? "primary" : "danger"} disabled={decide.isPending} data-autofocus>
                {decide.isPending ? "Working…" : choice === "approve" ? "Confirm approve" : "Confirm decline"}
              </Button>
            </div>
          </form>
        ) : null}
      </Dialog>
    </div>
  );
}
