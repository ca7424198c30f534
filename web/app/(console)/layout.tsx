"use client";

import Link from "next/link";
import { usePathname, useRouter } from "next/navigation";
import { useEffect, type ReactNode } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { ProblemAlert } from "@/components/problem-alert";
import { toggleTheme } from "@/components/shortcuts";
import { Button } from "@/components/ui/button";
import { api } from "@/lib/api/client";
import { ApiProblem } from "@/lib/problem";
import { useMe } from "./session";

export default function ConsoleLayout({ children }: { children: ReactNode }) {
  const me = useMe();
  const router = useRouter();
  const pathname = usePathname();
  const queryClient = useQueryClient();
  const unauthenticated = me.error instanceof ApiProblem && me.error.status === 401;

  useEffect(() => {
    if (unauthenticated) router.replace(`/login?next=${encodeURIComponent(pathname)}`);
  }, [unauthenticated, router, pathname]);

  async function logout() {
    await api.POST("/api/auth/logout");
    queryClient.clear();
    router.replace("/login");
  }

  return (
    <div className="flex min-h-screen flex-col">
      <header className="flex items-center gap-4 border-b border-line bg-panel px-5 py-2.5">
        <Link href="/projects" className="font-semibold">
          OpenHive
        </Link>
        <nav aria-label="Main" className="flex gap-3 text-muted">
          <Link href="/projects" className="hover:text-fg" aria-current={pathname.startsWith("/projects") ? "page" : undefined}>
            Projects
          </Link>
          <Link href="/agents" className="hover:text-fg" aria-current={pathname.startsWith("/agents") ? "page" : undefined}>
            Agents
          </Link>
        </nav>
        <div className="ml-auto flex items-center gap-2">
          <span className="text-muted" data-testid="operator">
            {me.data?.username}
          </span>
          <Button variant="ghost" onClick={toggleTheme} aria-label="Toggle light or dark theme" title="Theme (t)">
            ◐
          </Button>
          <Button variant="ghost" onClick={() => window.dispatchEvent(new KeyboardEvent("keydown", { key: "?" }))} aria-label="Keyboard shortcuts">
            ?
          </Button>
          {me.data ? (
            <Button variant="secondary" onClick={logout}>
              Log out
            </Button>
          ) : null}
        </div>
      </header>
      <main className="mx-auto w-full max-w-7xl flex-1 px-5 py-5">
        {me.data ? children : me.error && !unauthenticated ? <ProblemAlert error={me.error} /> : <p className="text-muted">Loading…</p>}
      </main>
    </div>
  );
}
