"use client";

import { memo, useCallback, useEffect, useMemo, useRef, useState } from "react";
import { useListKeys } from "@/components/use-list-keys";
import { useShortcuts } from "@/components/use-shortcuts";
import { layoutTimeline, type Lane, type MarkKind, type StoredEvent, type TimelineFilter, type TimelineLayout, type TimelineMark } from "@/lib/timeline";

/** Lays events out in lanes (Work Runs: layoutTimeline; agent runs: layoutAgentRun). */
export type LayoutFn = (events: readonly StoredEvent[], filter: TimelineFilter) => TimelineLayout;

const MARK_TONE: Partial<Record<MarkKind, string>> = {
  checkpoint: "bg-accent",
  command: "bg-muted",
  resume: "bg-warn",
  stale: "bg-warn",
  patch: "bg-ok",
  approval: "bg-ok",
  applied: "bg-ok",
  attempt: "bg-fg",
  attempt_end: "bg-fg",
  run: "bg-fg",
  finished: "bg-fg",
  model: "bg-accent",
  tool: "bg-muted",
  request: "bg-warn",
  decision: "bg-ok",
  note: "bg-accent",
};

/**
 * One mark, memoized on primitives: with the timeline's stepped scale (niceSpan) a live
 * event re-renders and restyles no existing mark, even with 5,000 of them.
 */
const Mark = memo(function Mark({
  version,
  kind,
  label,
  failure,
  x,
  selected,
  onInspect,
  onSelect,
}: {
  version: number;
  kind: MarkKind;
  label: string;
  failure: boolean;
  x: number;
  selected: boolean;
  onInspect: (version: number) => void;
  onSelect: (version: number) => void;
}) {
  return (
    <button
      type="button"
      tabIndex={-1}
      data-testid="timeline-mark"
      data-kind={kind}
      data-version={version}
      data-failure={failure || undefined}
      aria-label={label}
      title={label}
      onMouseEnter={() => onInspect(version)}
      onFocus={() => onInspect(version)}
      onClick={() => onSelect(version)}
      className={`absolute top-2 -ml-[3px] h-4 w-1.5 rounded-sm ${failure ? "bg-danger" : (MARK_TONE[kind] ?? "bg-muted")} ${selected ? "ring-2 ring-fg" : ""}`}
      style={{ left: `${x * 100}%` }}
    />
  );
});

function LaneRow({
  lane,
  selectedVersion,
  onInspect,
  onSelect,
}: {
  lane: Lane;
  selectedVersion: number | null;
  onInspect: (version: number) => void;
  onSelect: (version: number) => void;
}) {
  const span = lane.attemptNo === null ? null : `${lane.outcome ?? "running"}${lane.resumedFrom !== null ? `, resumed from checkpoint ${lane.resumedFrom}` : ""}`;
  return (
    <div className="grid grid-cols-[10rem_1fr] items-center gap-3" data-testid="lane" data-attempt={lane.attemptNo ?? "task"} data-lane={lane.key}>
      <div className="min-w-0 truncate">
        <div className="font-medium">{lane.label}</div>
        {span ? <div className="truncate text-xs text-muted">{span}</div> : null}
      </div>
      {/* contain: a new mark lays out and paints within its lane, not the page. */}
      <div role="group" aria-label={`${lane.label} marks`} className="relative h-8 rounded bg-bg [contain:strict]">
        {lane.attemptNo !== null ? (
          <div
            className={`absolute top-3.5 h-1 rounded ${lane.outcome && lane.outcome !== "succeeded" && lane.outcome !== "no_changes" ? "bg-danger/40" : "bg-accent/30"}`}
            style={{ left: `${lane.startX * 100}%`, width: `${Math.max(0.5, (lane.endX - lane.startX) * 100)}%` }}
          />
        ) : null}
        {lane.marks.map((m) => (
          <Mark
            key={m.version}
            version={m.version}
            kind={m.kind}
            label={m.label}
            failure={m.failure}
            x={m.x}
            selected={m.version === selectedVersion}
            onInspect={onInspect}
            onSelect={onSelect}
          />
        ))}
      </div>
    </div>
  );
}

const ROW_PX = 28;
const LIST_PX = 336;

/** The stream as a list: windowed (only visible rows are in the DOM), j/k through it. */
function EventList({
  marks,
  selected,
  onSelect,
}: {
  marks: TimelineMark[];
  selected: number;
  onSelect: (i: number) => void;
}) {
  const box = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  useEffect(() => {
    const el = box.current;
    if (!el || selected < 0) return;
    const top = selected * ROW_PX;
    if (top < el.scrollTop) el.scrollTop = top;
    else if (top + ROW_PX > el.scrollTop + LIST_PX) el.scrollTop = top + ROW_PX - LIST_PX;
    setScrollTop(el.scrollTop);
    el.querySelector<HTMLElement>(`[data-index="${selected}"]`)?.focus({ preventScroll: true });
  }, [selected]);
  useEffect(() => {
    // After the window moved, the selected row exists now: focus it.
    if (selected >= 0) box.current?.querySelector<HTMLElement>(`[data-index="${selected}"]`)?.focus({ preventScroll: true });
  }, [scrollTop, selected]);
  const first = Math.max(0, Math.floor(scrollTop / ROW_PX) - 10);
  const last = Math.min(marks.length, Math.ceil((scrollTop + LIST_PX) / ROW_PX) + 10);
  return (
    <div ref={box} onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)} className="overflow-y-auto rounded-lg border border-line bg-panel" style={{ height: LIST_PX }}>
      <ul aria-label="Events" data-list="events" className="relative" style={{ height: marks.length * ROW_PX }}>
        {marks.slice(first, last).map((m, k) => {
          const i = first + k;
          return (
            <li
              key={m.version}
              data-index={i}
              data-testid="event-row"
              data-kind={m.kind}
              tabIndex={-1}
              aria-selected={i === selected}
              onClick={() => onSelect(i)}
              className={`absolute flex w-full cursor-default items-center gap-3 px-3 font-mono text-xs aria-selected:bg-bg ${m.failure ? "text-danger" : ""}`}
              style={{ top: i * ROW_PX, height: ROW_PX }}
            >
              <span className="w-12 text-right text-muted">#{m.version}</span>
              <span className="w-20 text-muted">{new Date(m.at).toLocaleTimeString()}</span>
              <span className="w-16 text-muted">{m.attemptNo !== null ? `att ${m.attemptNo}` : (m.laneLabel ?? "task")}</span>
              <span className="truncate">{m.label}</span>
            </li>
          );
        })}
      </ul>
    </div>
  );
}

export function Timeline({
  events,
  live,
  onOpenCommand,
  layoutFn = layoutTimeline,
}: {
  events: StoredEvent[];
  live: string;
  onOpenCommand?: (commandId: string) => void;
  layoutFn?: LayoutFn;
}) {
  const [failuresOnly, setFailuresOnly] = useState(false);
  const [query, setQuery] = useState("");
  const [inspected, setInspected] = useState<number | null>(null);
  const search = useRef<HTMLInputElement>(null);
  const layout = useMemo(() => layoutFn(events, { failuresOnly, query }), [layoutFn, events, failuresOnly, query]);
  const open = useCallback(
    (i: number) => {
      const m = layout.marks[i];
      if (m?.commandId) onOpenCommand?.(m.commandId);
    },
    [layout.marks, onOpenCommand],
  );
  const [selected, setSelected] = useListKeys(layout.marks.length, open, "events", false);
  const selectedMark = layout.marks[selected] ?? null;
  // Marks call back with their version; the lookup lives in a ref so the callbacks stay
  // stable across live batches (a changed callback would re-render every mark).
  const index = useRef(new Map<number, number>());
  index.current = useMemo(() => new Map(layout.marks.map((m, i) => [m.version, i])), [layout.marks]);
  const selectVersion = useCallback((v: number) => setSelected(index.current.get(v) ?? -1), [setSelected]);
  const inspectedMark = inspected !== null ? layout.marks[index.current.get(inspected) ?? -1] : undefined;
  const shown: TimelineMark | null = selectedMark ?? inspectedMark ?? null;

  useShortcuts({
    "/": (e) => {
      e.preventDefault();
      search.current?.focus();
    },
    f: () => {
      setFailuresOnly((v) => !v);
      setSelected(-1);
    },
  });

  return (
    <div className="flex flex-col gap-3">
      <div className="flex flex-wrap items-center gap-4">
        <label className="flex items-center gap-2">
          <input type="checkbox" checked={failuresOnly} onChange={(e) => { setFailuresOnly(e.target.checked); setSelected(-1); }} />
          Failures only
        </label>
        <label className="flex items-center gap-2">
          Search
          <input
            ref={search}
            type="search"
            value={query}
            onChange={(e) => { setQuery(e.target.value); setSelected(-1); }}
            onKeyDown={(e) => { if (e.key === "Escape") (e.target as HTMLInputElement).blur(); }}
            placeholder="label, type or payload"
            className="rounded-md border border-line bg-panel px-2 py-1"
          />
        </label>
        <span className="text-muted" data-testid="event-count">
          {layout.marks.length} of {layout.total} events
        </span>
        <span role="status" aria-live="polite" className="ml-auto text-xs text-muted" data-testid="stream-state">
          {live === "open" ? "● live" : live}
        </span>
      </div>
      <div className="flex flex-col gap-1.5 rounded-lg border border-line bg-panel p-3" data-testid="timeline">
        {layout.lanes.map((lane) => (
          <LaneRow key={lane.key} lane={lane} selectedVersion={selectedMark?.version ?? null} onInspect={setInspected} onSelect={selectVersion} />
        ))}
      </div>
      <div className="grid gap-3 lg:grid-cols-[3fr_2fr]">
        <EventList marks={layout.marks} selected={selected} onSelect={setSelected} />
        <section aria-label="Event payload" className="h-[336px] overflow-auto rounded-lg border border-line bg-panel p-3" data-testid="inspector">
          {shown ? (
            <>
              <h3 className="font-medium">{shown.label}</h3>
              <p className="mb-2 text-xs text-muted">
                {shown.type} · #{shown.version} · {new Date(shown.at).toLocaleString()}
              </p>
              {shown.commandId && onOpenCommand ? (
                <button type="button" onClick={() => onOpenCommand(shown.commandId as string)} className="mb-2 text-accent underline">
                  Open command log
                </button>
              ) : null}
              <pre className="whitespace-pre-wrap break-all font-mono text-xs">{JSON.stringify(shown.payload, null, 2)}</pre>
            </>
          ) : (
            <p className="text-muted">Hover or select an event (j/k) to see its payload.</p>
          )}
        </section>
      </div>
    </div>
  );
}
