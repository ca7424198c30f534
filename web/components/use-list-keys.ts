"use client";

import { useEffect, useState } from "react";
import { useShortcuts } from "./use-shortcuts";

/**
 * j/k (and arrow keys) move a selection through a list of `count` rows; Enter opens
 * the selected one. With `focusRows`, the row `[data-list=scope] [data-index=i]` gets focus
 * (a virtualized list brings its row into view and focuses it itself).
 */
export function useListKeys(count: number, onOpen?: (index: number) => void, scope = "list", focusRows = true) {
  const [selected, setSelected] = useState(-1);
  const next = (e: KeyboardEvent) => {
    e.preventDefault();
    setSelected((s) => Math.min(count - 1, s + 1));
  };
  const previous = (e: KeyboardEvent) => {
    e.preventDefault();
    setSelected((s) => Math.max(0, s - 1));
  };
  useShortcuts({
    j: next,
    ArrowDown: next,
    k: previous,
    ArrowUp: previous,
    Enter: (e) => {
      // A focused button or link handles Enter itself.
      if (selected < 0 || !onOpen || e.target instanceof HTMLButtonElement || e.target instanceof HTMLAnchorElement) return;
      e.preventDefault();
      onOpen(selected);
    },
  });
  useEffect(() => {
    if (selected < 0 || !focusRows) return;
    const row = document.querySelector<HTMLElement>(`[data-list="${scope}"] [data-index="${selected}"]`);
    row?.focus({ preventScroll: false });
    row?.scrollIntoView({ block: "nearest" });
  }, [selected, scope, focusRows]);
  return [selected, setSelected] as const;
}
