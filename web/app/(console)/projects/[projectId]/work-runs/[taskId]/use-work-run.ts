"use client";

import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { API_BASE, api, unwrap } from "@/lib/api/client";
import { ApiProblem, problemFromResponse } from "@/lib/problem";
import { followEventStream, type FollowState } from "@/lib/sse";
import type { StoredEvent } from "@/lib/timeline";

export function workRunKey(projectId: string, taskId: string) {
  return ["work-run", projectId, taskId] as const;
}

export function useWorkRunStatus(projectId: string, taskId: string) {
  return useQuery({
    queryKey: [...workRunKey(projectId, taskId), "status"],
    queryFn: () =>
      unwrap(api.GET("/api/projects/{project_id}/dev-tasks/{task_id}", { params: { path: { project_id: projectId, task_id: taskId } } })),
    // The event stream invalidates this; the interval only refreshes heartbeat ages.
    refetchInterval: 10_000,
  });
}

/** What each event type makes stale besides the status. */
const INVALIDATES: Record<string, string[]> = {
  CommandStarted: ["commands"],
  CommandFinished: ["commands"],
  ArtifactRecorded: ["artifacts"],
  PatchProposed: ["patch"],
};

const HISTORY_PAGE = 10_000; // the gateway's largest `limit` for the events route

/**
 * The Work Run's whole event stream, then live. History comes as JSON pages (one render
 * for thousands of events), then one SSE follow from the last version, which resumes with
 * Last-Event-ID after a drop. Live events are batched per animation frame.
 */
export function useWorkRunEvents(projectId: string, taskId: string) {
  const queryClient = useQueryClient();
  const [events, setEvents] = useState<StoredEvent[]>([]);
  const [state, setState] = useState<FollowState>("connecting");
  const [fatal, setFatal] = useState<ApiProblem | null>(null);
  const pending = useRef<StoredEvent[]>([]);
  const frame = useRef<number | null>(null);

  useEffect(() => {
    const controller = new AbortController();
    let last = 0;
    setEvents([]);
    setFatal(null);
    const flush = () => {
      frame.current = null;
      const batch = pending.current;
      pending.current = [];
      if (batch.length === 0) return;
      setEvents((prev) => prev.concat(batch));
      const stale = new Set(["status"]);
      for (const e of batch) for (const k of INVALIDATES[e.event_type] ?? []) stale.add(k);
      for (const k of stale) void queryClient.invalidateQueries({ queryKey: [...workRunKey(projectId, taskId), k] });
    };
    const accept = (event: StoredEvent) => {
      // Never draw a version twice (history and the live stream overlap by design).
      if (event.stream_version <= last) return false;
      last = event.stream_version;
      pending.current.push(event);
      return true;
    };
    const path = { project_id: projectId, task_id: taskId };
    const load = async () => {
      for (;;) {
        const page = await unwrap(
          api.GET("/api/projects/{project_id}/dev-tasks/{task_id}/events", {
            params: { path, query: { after: last, limit: HISTORY_PAGE } },
            signal: controller.signal,
          }),
        );
        // The route's 200 is typed as JSON list or SSE message; without an SSE Accept it is the list.
        const list = Array.isArray(page) ? page : [page];
        list.forEach(accept);
        if (list.length < HISTORY_PAGE) break;
      }
      flush();
      const url = `${API_BASE}/api/projects/${encodeURIComponent(projectId)}/dev-tasks/${encodeURIComponent(taskId)}/events`;
      await followEventStream({
        url,
        lastEventId: String(last),
        signal: controller.signal,
        onState: (s) => setState(s),
        onFatal: (response) => void problemFromResponse(response).then(setFatal),
        onMessage: (message) => {
          let event: StoredEvent;
          try {
            event = JSON.parse(message.data) as StoredEvent;
          } catch {
            return; // not an event (a future message kind): nothing to draw
          }
          if (accept(event)) frame.current ??= requestAnimationFrame(flush);
        },
      });
    };
    load().catch((error: unknown) => {
      if (!controller.signal.aborted) setFatal(error instanceof ApiProblem ? error : null);
    });
    return () => {
      controller.abort();
      if (frame.current !== null) cancelAnimationFrame(frame.current);
      frame.current = null;
      pending.current = [];
    };
  }, [projectId, taskId, queryClient]);

  return { events, state, fatal };
}
