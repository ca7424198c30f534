"use client";

import { useEffect, useState } from "react";

/** True when a key press belongs to a text field (shortcuts must not steal typing). */
export function isTyping(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  const tag = target.tagName;
  return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
}

/**
 * j/k (and arrow keys) move a selection through a list of `count` rows; Enter opens
 * the selected one. With `focusRows`, the row `[data-list=scope] [data-index=i]` gets focus
 * (a virtualized list brings its row into view and focuses it itself).
 */
export function useListKeys(count: number, onOpen?: (index: number) => void, scope = "list", focusRows = true) {
  const [selected, setSelected] = useState(-1);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey || isTyping(e.target)) return;
      if (document.querySelector("dialog[open]")) return;
      if (e.key === "j" || e.key === "ArrowDown") {
        e.preventDefault();
        setSelected((s) => Math.min(count - 1, s + 1));
      } else if (e.key === "k" || e.key === "ArrowUp") {
        e.preventDefault();
        setSelected((s) => Math.max(0, s - 1));
      } else if (e.key === "Enter" && selected >= 0 && onOpen && !(e.target instanceof HTMLButtonElement) && !(e.target instanceof HTMLAnchorElement)) {
        e.preventDefault();
        onOpen(selected);
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [count, onOpen, selected]);
  useEffect(() => {
    if (selected < 0 || !focusRows) return;
    const row = document.querySelector<HTMLElement>(`[data-list="${scope}"] [data-index="${selected}"]`);
    row?.focus({ preventScroll: false });
    row?.scrollIntoView({ block: "nearest" });
  }, [selected, scope, focusRows]);
  return [selected, setSelected] as const;
}
