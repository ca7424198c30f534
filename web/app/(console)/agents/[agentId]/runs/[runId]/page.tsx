"use client";

import Link from "next/link";
import { useParams } from "next/navigation";
import { useMemo } from "react";
import { ProblemAlert } from "@/components/problem-alert";
import { StateBadge } from "@/components/state-badge";
import { Timeline } from "@/components/timeline";
import { layoutAgentRun, runBudget, runNotes } from "@/lib/agent-run";
import { Decision } from "../../../decision";
import { ACTIVE, agentHref, useRun, useRunEvents } from "../../../queries";

function Budget({ lines, grants }: ReturnType<typeof runBudget>) {
  return (
    <section aria-label="Budget" className="rounded-lg border border-line bg-panel p-3" data-testid="run-budget">
      <h2 className="mb-2 font-medium">Budget</h2>
      <table className="w-full text-left text-sm">
        <thead className="text-muted">
          <tr>
            <th className="font-medium">Of</th>
            <th className="font-medium">Used</th>
            <th className="font-medium">Limit</th>
          </tr>
        </thead>
        <tbody>
          {lines.map((l) => {
            const over = l.limit !== null && l.used >= l.limit;
            return (
              <tr key={l.name} data-budget={l.name}>
                <td>{l.label}</td>
                <td className={over ? "font-medium text-danger" : ""}>{l.used}</td>
                <td>{l.limit ?? "—"}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {grants.length ? (
        <ul className="mt-2 text-xs text-muted" aria-label="Grants">
          {grants.map((g, i) => (
            <li key={i}>
              granted by {g.by}:{" "}
              {Object.entries(g.grant)
                .map(([k, v]) => `${k} +${v}`)
                .join(", ")}
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}

export default function AgentRunPage() {
  const { agentId, runId } = useParams<{ agentId: string; runId: string }>();
  const run = useRun(agentId, runId);
  const r = run.data;
  const active = !r || ACTIVE.has(r.status);
  const events = useRunEvents(agentId, runId, active, r?.stream_version ?? 0);
  const list = useMemo(() => events.data ?? [], [events.data]);
  const budget = useMemo(() => runBudget(list), [list]);
  const notes = useMemo(() => runNotes(list), [list]);
  const live = active ? "polling" : "finished";

  return (
    <section className="flex flex-col gap-4">
      <p className="text-muted">
        <Link href="/agents" className="hover:underline">
          Agents
        </Link>{" "}
        /{" "}
        <Link href={agentHref(agentId)} className="hover:underline">
          {agentId}
        </Link>{" "}
        / run {runId}
      </p>
      <div className="flex flex-wrap items-center gap-3">
        <h1 className="font-mono text-xl font-semibold">{runId}</h1>
        {r ? (
          <span data-testid="agent-run-status">
            <StateBadge state={r.status} />
          </span>
        ) : null}
        {r ? (
          <span className="text-muted">
            {r.model_calls} model call(s) · {r.tool_calls} tool call(s) · {r.stream_version} event(s)
          </span>
        ) : null}
      </div>
      <ProblemAlert error={run.error ?? events.error} />
      <Decision agentId={agentId} runId={runId} pending={r?.pending ?? null} shortcuts />
      {r?.output ? (
        <section aria-label="Output" className="rounded-lg border border-line bg-panel p-3">
          <h2 className="mb-1 font-medium">Output</h2>
          <p className="whitespace-pre-wrap" data-testid="agent-run-output">
            {r.output}
          </p>
        </section>
      ) : null}
      {r?.error ? <p className="text-danger">{r.error}</p> : null}
      <div className="grid gap-3 lg:grid-cols-2">
        <Budget {...budget} />
        <section aria-label="Notes" className="rounded-lg border border-line bg-panel p-3">
          <h2 className="mb-2 font-medium">Memory notes</h2>
          {notes.length ? (
            <ul className="list-inside list-disc text-sm">
              {notes.map((n) => (
                <li key={n.version}>{n.note}</li>
              ))}
            </ul>
          ) : (
            <p className="text-muted">This run noted nothing.</p>
          )}
        </section>
      </div>
      <Timeline events={list} live={live} layoutFn={layoutAgentRun} />
    </section>
  );
}
