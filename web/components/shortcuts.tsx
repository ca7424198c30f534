"use client";

import { useState } from "react";
import { Dialog } from "@/components/ui/dialog";
import { useShortcuts } from "@/components/use-shortcuts";

export const SHORTCUTS: ReadonlyArray<[string, string]> = [
  ["?", "show these shortcuts"],
  ["j / k", "next / previous row or event"],
  ["Enter", "open the selected row, or show the selected event's payload"],
  ["/", "search the timeline"],
  ["f", "timeline: failures only on/off"],
  ["1 – 4", "Work Run tabs: timeline, commands, artifacts, diff"],
  ["n / p", "diff: next / previous file"],
  ["a", "Work Run: approve (asks to confirm)"],
  ["r", "Work Run: resume (asks to confirm)"],
  ["a / d", "agent run: approve / decline its open request (asks to confirm)"],
  ["t", "light / dark theme"],
];

export function toggleTheme(): void {
  const dark = document.documentElement.classList.toggle("dark");
  try {
    localStorage.setItem("hive-theme", dark ? "dark" : "light");
  } catch {
    // private mode: the choice lasts for this page only
  }
}

/** The `?` overlay and the global `t` theme shortcut. */
export function Shortcuts() {
  const [open, setOpen] = useState(false);
  useShortcuts({
    "?": (e) => {
      e.preventDefault();
      setOpen(true);
    },
    t: toggleTheme,
  });
  return (
    <Dialog open={open} onClose={() => setOpen(false)} title="Keyboard shortcuts">
      <dl className="grid grid-cols-[7rem_1fr] gap-x-4 gap-y-1.5">
        {SHORTCUTS.map(([keys, what]) => (
          <div key={keys} className="contents">
            <dt>
              <kbd className="rounded border border-line px-1.5 font-mono text-xs">{keys}</kbd>
            </dt>
            <dd className="text-muted">{what}</dd>
          </div>
        ))}
      </dl>
      <form method="dialog" className="mt-4 text-right">
        <button className="rounded-md border border-line px-3 py-1.5" data-autofocus>
          Close
        </button>
      </form>
    </Dialog>
  );
}
