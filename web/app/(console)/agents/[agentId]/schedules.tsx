"use client";

import Link from "next/link";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { ProblemAlert } from "@/components/problem-alert";
import { StateBadge } from "@/components/state-badge";
import { Button } from "@/components/ui/button";
import { api, unwrap } from "@/lib/api/client";
import type { components } from "@/lib/api/schema";
import { shortDuration } from "@/lib/format";
import { agentHref, agentKey } from "../queries";

type Schedule = components["schemas"]["ScheduleView"];

const schedulesKey = (agentId: string) => [...agentKey(agentId), "schedules"] as const;

function when(iso: string, now: number): string {
  const s = (Date.parse(iso) - now) / 1000;
  return s >= 0 ? `in ${shortDuration(s)}` : `${shortDuration(-s)} ago`;
}

function Firings({ agentId, scheduleId }: { agentId: string; scheduleId: string }) {
  const firings = useQuery({
    queryKey: [...schedulesKey(agentId), scheduleId, "firings"],
    queryFn: () =>
      unwrap(api.GET("/api/agents/{agent_id}/schedules/{schedule_id}/firings", { params: { path: { agent_id: agentId, schedule_id: scheduleId } } })),
    refetchInterval: 10_000,
  });
  const rows = firings.data ?? [];
  const missed = rows.filter((f) => f.outcome === "missed").length;
  return (
    <div className="flex flex-col gap-1">
      <ProblemAlert error={firings.error} />
      <p className={missed ? "font-medium text-danger" : "text-muted"} data-testid="missed-firings">
        {rows.length} firing(s), {missed} missed
      </p>
      {rows.length ? (
        <ul aria-label={`Firings of ${scheduleId}`} className="flex max-h-40 flex-col gap-0.5 overflow-auto font-mono text-xs">
          {rows.slice(0, 50).map((f) => (
            <li key={`${f.fire_time}-${f.outcome}`} className="flex items-center gap-2">
              <StateBadge state={f.outcome} />
              <span title={f.fire_time}>{new Date(f.fire_time).toLocaleString()}</span>
              {f.run_id ? (
                <Link href={agentHref(agentId, f.run_id)} className="text-accent hover:underline">
                  {f.run_id}
                </Link>
              ) : null}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

function ScheduleRow({ agentId, schedule, now }: { agentId: string; schedule: Schedule; now: number }) {
  const queryClient = useQueryClient();
  const toggle = useMutation({
    mutationFn: (pause: boolean) =>
      unwrap(
        api.POST(pause ? "/api/agents/{agent_id}/schedules/{schedule_id}/pause" : "/api/agents/{agent_id}/schedules/{schedule_id}/resume", {
          params: { path: { agent_id: agentId, schedule_id: schedule.schedule_id } },
        }),
      ),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: schedulesKey(agentId) }),
  });
  return (
    <li className="flex flex-col gap-2 p-3" data-testid="schedule" data-paused={schedule.paused || undefined}>
      <div className="flex flex-wrap items-center gap-3">
        <code className="font-mono">{schedule.cron}</code>
        <span className="text-muted">{schedule.timezone}</span>
        {schedule.paused ? <StateBadge state="paused" /> : null}
        <span data-testid="next-firing" title={schedule.next_fire_at}>
          next: {schedule.paused ? "— (paused)" : `${new Date(schedule.next_fire_at).toLocaleString()} (${when(schedule.next_fire_at, now)})`}
        </span>
        <span className="text-muted">
          overlap {schedule.overlap} · catch-up {shortDuration(schedule.catch_up_s)}
        </span>
        <Button className="ml-auto" onClick={() => toggle.mutate(!schedule.paused)} disabled={toggle.isPending} aria-label={`${schedule.paused ? "Resume" : "Pause"} schedule ${schedule.cron}`}>
          {schedule.paused ? "Resume" : "Pause"}
        </Button>
      </div>
      <p className="truncate text-muted">input: {schedule.input}</p>
      <ProblemAlert error={toggle.error} />
      <Firings agentId={agentId} scheduleId={schedule.schedule_id} />
    </li>
  );
}

function NewSchedule({ agentId, onDone }: { agentId: string; onDone: () => void }) {
  const queryClient = useQueryClient();
  const create = useMutation({
    mutationFn: (body: components["schemas"]["ScheduleCreate"]) =>
      unwrap(api.POST("/api/agents/{agent_id}/schedules", { params: { path: { agent_id: agentId } }, body })),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: schedulesKey(agentId) });
      onDone();
    },
  });
  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    create.mutate({
      cron: String(f.get("cron")).trim(),
      input: String(f.get("input")).trim(),
      timezone: String(f.get("timezone") || "UTC").trim(),
      overlap: f.get("overlap") === "enqueue" ? "enqueue" : "skip",
      catch_up_s: Number(f.get("catch_up_s") || 300),
      paused: f.get("paused") === "on",
    });
  }
  return (
    <form onSubmit={submit} aria-label="New schedule" className="flex flex-wrap items-end gap-3 border-b border-line p-3">
      <label className="flex flex-col gap-1">
        Cron
        <input name="cron" required placeholder="*/15 * * * *" className="rounded-md border border-line bg-bg px-2 py-1.5 font-mono" />
      </label>
      <label className="flex flex-col gap-1">
        Time zone
        <input name="timezone" defaultValue="UTC" className="rounded-md border border-line bg-bg px-2 py-1.5" />
      </label>
      <label className="flex min-w-60 flex-1 flex-col gap-1">
        Input
        <input name="input" required className="rounded-md border border-line bg-bg px-2 py-1.5" />
      </label>
      <label className="flex flex-col gap-1">
        Overlap
        <select name="overlap" className="rounded-md border border-line bg-bg px-2 py-1.5">
          <option value="skip">skip</option>
          <option value="enqueue">enqueue</option>
        </select>
      </label>
      <label className="flex flex-col gap-1">
        Catch-up (s)
        <input name="catch_up_s" type="number" min={0} defaultValue={300} className="w-24 rounded-md border border-line bg-bg px-2 py-1.5" />
      </label>
      <label className="flex items-center gap-1.5">
        <input type="checkbox" name="paused" />
        Paused
      </label>
      <Button type="submit" variant="primary" disabled={create.isPending}>
        Create schedule
      </Button>
      <div className="w-full">
        <ProblemAlert error={create.error} />
      </div>
    </form>
  );
}

/** The agent's schedules: next firing, missed firings, pause/resume, a new one. */
export function Schedules({ agentId }: { agentId: string }) {
  const [creating, setCreating] = useState(false);
  const schedules = useQuery({
    queryKey: schedulesKey(agentId),
    queryFn: () => unwrap(api.GET("/api/agents/{agent_id}/schedules", { params: { path: { agent_id: agentId } } })),
    refetchInterval: 10_000,
  });
  const rows = schedules.data ?? [];
  const now = Date.now();
  return (
    <section aria-label="Schedules" className="rounded-lg border border-line bg-panel">
      <div className="flex items-center justify-between gap-2 border-b border-line p-3">
        <h2 className="font-medium">Schedules</h2>
        <Button onClick={() => setCreating((v) => !v)} aria-expanded={creating}>
          New schedule
        </Button>
      </div>
      {creating ? <NewSchedule agentId={agentId} onDone={() => setCreating(false)} /> : null}
      <ProblemAlert error={schedules.error} />
      <ul className="divide-y divide-line">
        {rows.map((s) => (
          <ScheduleRow key={s.schedule_id} agentId={agentId} schedule={s} now={now} />
        ))}
        {schedules.isSuccess && rows.length === 0 ? <li className="p-3 text-muted">No schedules.</li> : null}
      </ul>
    </section>
  );
}
