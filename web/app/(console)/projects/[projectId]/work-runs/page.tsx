"use client";

import Link from "next/link";
import { useParams, useRouter } from "next/navigation";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useCallback, useState } from "react";
import { ProblemAlert } from "@/components/problem-alert";
import { StateBadge } from "@/components/state-badge";
import { Button } from "@/components/ui/button";
import { useListKeys } from "@/components/use-list-keys";
import { api, unwrap } from "@/lib/api/client";
import { age, shortDuration } from "@/lib/format";
import { ApprovedBy } from "./approved-by";

const STATES = ["queued", "running", "stale", "awaiting_review", "approved", "applied", "apply_failed", "rejected", "failed", "cancelled"] as const;
type State = (typeof STATES)[number];
const PAGE_SIZE = 25;

export default function WorkRunsPage() {
  const { projectId } = useParams<{ projectId: string }>();
  const router = useRouter();
  const [state, setState] = useState<State | "">("");
  const [page, setPage] = useState(0);
  const [text, setText] = useState("");
  const needle = text.trim();
  // The gateway pages (limit + offset, most recently updated first) and filters; one row
  // past the page says whether there is a next one.
  const runs = useQuery({
    queryKey: ["work-runs", projectId, state, needle, page],
    queryFn: () =>
      unwrap(
        api.GET("/api/projects/{project_id}/dev-tasks", {
          params: {
            path: { project_id: projectId },
            query: {
              limit: PAGE_SIZE + 1,
              offset: page * PAGE_SIZE,
              ...(state ? { state } : {}),
              ...(needle ? { task_id_contains: needle } : {}),
            },
          },
        }),
      ),
    placeholderData: keepPreviousData,
    refetchInterval: 5_000,
  });
  const project = useQuery({
    queryKey: ["project", projectId],
    queryFn: () => unwrap(api.GET("/api/projects/{project_id}", { params: { path: { project_id: projectId } } })),
  });
  const rows = (runs.data ?? []).slice(0, PAGE_SIZE);
  const hasNext = (runs.data ?? []).length > PAGE_SIZE;
  const href = (taskId: string) => `/projects/${encodeURIComponent(projectId)}/work-runs/${encodeURIComponent(taskId)}`;
  const open = useCallback((i: number) => {
    const r = rows[i];
    if (r) router.push(href(r.task_id));
  }, [rows, router]);
  const [selected] = useListKeys(rows.length, open, "work-runs");
  const now = Date.now();

  return (
    <section className="flex flex-col gap-4">
      <div className="flex items-center justify-between gap-3">
        <div>
          <p className="text-muted">
            <Link href="/projects" className="hover:underline">
              Projects
            </Link>{" "}
            / {project.data?.name ?? projectId}
          </p>
          <h1 className="text-xl font-semibold">Work Runs</h1>
        </div>
        <Link href={`/projects/${encodeURIComponent(projectId)}/work-runs/new`} className="rounded-md border border-accent bg-accent px-3 py-1.5 font-medium text-accent-fg">
          New Work Run
        </Link>
      </div>
      <div className="flex flex-wrap items-end gap-3" role="search">
        <label className="flex flex-col gap-1">
          State
          <select value={state} onChange={(e) => { setState(e.target.value as State | ""); setPage(0); }} className="rounded-md border border-line bg-panel px-2 py-1.5">
            <option value="">any</option>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label className="flex flex-col gap-1">
          Work Run id contains
          <input value={text} onChange={(e) => { setText(e.target.value); setPage(0); }} placeholder="part of a Work Run id" className="rounded-md border border-line bg-panel px-2 py-1.5" />
        </label>
      </div>
      <ProblemAlert error={runs.error} />
      <div className="overflow-x-auto rounded-lg border border-line bg-panel">
        <table className="w-full text-left" aria-label="Work Runs">
          <thead className="border-b border-line text-muted">
            <tr>
              <th className="px-3 py-2 font-medium">Work Run</th>
              <th className="px-3 py-2 font-medium">State</th>
              <th className="px-3 py-2 font-medium">Backend</th>
              <th className="px-3 py-2 font-medium">Attempts</th>
              <th className="px-3 py-2 font-medium">Age</th>
              <th className="px-3 py-2 font-medium">Heartbeat</th>
              <th className="px-3 py-2 font-medium">Approved by</th>
              <th className="px-3 py-2 font-medium">Patch</th>
            </tr>
          </thead>
          <tbody data-list="work-runs" className="divide-y divide-line">
            {rows.map((r, i) => (
              <tr key={r.task_id} data-index={i} tabIndex={-1} data-selected={i === selected || undefined} className="data-[selected]:bg-bg">
                <td className="px-3 py-2">
                  <Link href={href(r.task_id)} className="font-mono text-accent hover:underline">
                    {r.task_id}
                  </Link>
                </td>
                <td className="px-3 py-2">
                  <StateBadge state={r.state} />
                </td>
                <td className="px-3 py-2 font-mono text-xs">{r.backend}</td>
                <td className="px-3 py-2">{r.attempts?.length ?? 0}</td>
                <td className="px-3 py-2" title={r.created_at}>
                  {age(r.created_at, now)}
                </td>
                <td className="px-3 py-2">{r.runtime?.heartbeat_age_s != null ? shortDuration(r.runtime.heartbeat_age_s) : "—"}</td>
                <td className="px-3 py-2">
                  <ApprovedBy projectId={projectId} taskId={r.task_id} state={r.state} version={r.stream_version} />
                </td>
                <td className="px-3 py-2 text-muted">{r.patch ? `+${r.patch.insertions} −${r.patch.deletions}` : "—"}</td>
              </tr>
            ))}
            {runs.isSuccess && rows.length === 0 ? (
              <tr>
                <td colSpan={8} className="px-3 py-4 text-muted">
                  No Work Runs{state ? ` in state ${state}` : ""}.
                </td>
              </tr>
            ) : null}
          </tbody>
        </table>
      </div>
      <nav aria-label="Pages" className="flex items-center gap-2">
        <Button disabled={page === 0} onClick={() => setPage((p) => p - 1)}>
          Previous
        </Button>
        <span className="text-muted">Page {page + 1}</span>
        <Button disabled={!hasNext} onClick={() => setPage((p) => p + 1)}>
          Next
        </Button>
      </nav>
    </section>
  );
}
