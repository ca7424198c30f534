"use client";

import Link from "next/link";
import { useParams } from "next/navigation";
import { useCallback, useState } from "react";
import { ProblemAlert } from "@/components/problem-alert";
import { StateBadge } from "@/components/state-badge";
import { useShortcuts } from "@/components/use-shortcuts";
import { age, shortDuration } from "@/lib/format";
import { Actions } from "./actions";
import { Artifacts } from "./artifacts";
import { Commands } from "./commands";
import { DiffView } from "./diff-view";
import { Timeline } from "@/components/timeline";
import { useWorkRunEvents, useWorkRunStatus } from "./use-work-run";

const TABS = ["timeline", "commands", "artifacts", "diff"] as const;
type Tab = (typeof TABS)[number];

export default function WorkRunPage() {
  const { projectId, taskId } = useParams<{ projectId: string; taskId: string }>();
  const status = useWorkRunStatus(projectId, taskId);
  const stream = useWorkRunEvents(projectId, taskId);
  const [tab, setTab] = useState<Tab>("timeline");
  const [command, setCommand] = useState<string | null>(null);
  const openCommand = useCallback((id: string) => {
    setCommand(id);
    setTab("commands");
  }, []);

  useShortcuts(Object.fromEntries(TABS.map((t, i) => [String(i + 1), () => setTab(t)])));

  const s = status.data;
  const approval = stream.events.findLast((e) => e.event_type === "TaskApproved");
  return (
    <section className="flex flex-col gap-4">
      <p className="text-muted">
        <Link href={`/projects/${encodeURIComponent(projectId)}/work-runs`} className="hover:underline">
          Work Runs
        </Link>{" "}
        / {taskId}
      </p>
      <div className="flex flex-wrap items-start justify-between gap-4">
        <div className="flex flex-col gap-1">
          <h1 className="flex items-center gap-3 text-xl font-semibold">
            <span className="font-mono">{taskId}</span>
            {s ? (
              <span data-testid="work-run-state">
                <StateBadge state={s.state} />
              </span>
            ) : null}
          </h1>
          {s ? (
            <p className="text-muted">
              {s.backend} · {s.attempts?.length ?? 0} attempt(s) · created {age(s.created_at)} ago
              {s.runtime?.heartbeat_age_s != null ? ` · heartbeat ${shortDuration(s.runtime.heartbeat_age_s)} ago` : ""}
              {s.latest_checkpoint ? ` · checkpoint ${s.latest_checkpoint.checkpoint_sequence_no}` : ""}
              {approval ? ` · approved by ${String(approval.payload.approved_by ?? "?")}` : ""}
              {s.reason ? ` · ${s.reason}` : ""}
            </p>
          ) : null}
          {s?.requeued_to ? (
            <p>
              Requeued as{" "}
              <Link className="font-mono text-accent underline" href={`/projects/${encodeURIComponent(projectId)}/work-runs/${encodeURIComponent(s.requeued_to)}`}>
                {s.requeued_to}
              </Link>
            </p>
          ) : null}
        </div>
        {s ? <Actions projectId={projectId} taskId={taskId} status={s} /> : null}
      </div>
      <ProblemAlert error={status.error ?? stream.fatal} />
      <div role="tablist" aria-label="Work Run views" className="flex gap-1 border-b border-line">
        {TABS.map((t, i) => (
          <button
            key={t}
            role="tab"
            type="button"
            id={`tab-${t}`}
            aria-selected={tab === t}
            aria-controls={`panel-${t}`}
            aria-keyshortcuts={String(i + 1)}
            onClick={() => setTab(t)}
            className="-mb-px border-b-2 border-transparent px-3 py-2 capitalize text-muted aria-selected:border-accent aria-selected:text-fg"
          >
            {t}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
        {tab === "timeline" ? <Timeline events={stream.events} live={stream.state} onOpenCommand={openCommand} /> : null}
        {tab === "commands" ? <Commands projectId={projectId} taskId={taskId} selected={command} onSelect={setCommand} /> : null}
        {tab === "artifacts" && s ? <Artifacts projectId={projectId} taskId={taskId} status={s} /> : null}
        {tab === "diff" && s ? <DiffView projectId={projectId} taskId={taskId} status={s} events={stream.events} /> : null}
      </div>
    </section>
  );
}
