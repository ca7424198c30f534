"use client";

import { useEffect, useRef } from "react";

/** True when a key press belongs to a text field (shortcuts must not steal typing). */
export function isTyping(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  const tag = target.tagName;
  return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
}

export type ShortcutHandlers = Record<string, (event: KeyboardEvent) => void>;

/**
 * Page-level single-key shortcuts (`event.key` → handler). Ignored while typing in a
 * field, with a modifier held, or while a modal dialog is open (it owns the keyboard).
 * A handler runs with the latest props: the listener is installed once per mount.
 */
export function useShortcuts(handlers: ShortcutHandlers): void {
  const current = useRef(handlers);
  current.current = handlers;
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey || isTyping(e.target)) return;
      if (document.querySelector("dialog[open]")) return;
      const handler = current.current[e.key];
      if (handler) handler(e);
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
}
