"use client";

import { useQuery } from "@tanstack/react-query";
import { api, unwrap } from "@/lib/api/client";

/** The logged-in operator (401 → the console sends the browser to /login). */
export function useMe() {
  return useQuery({ queryKey: ["me"], queryFn: () => unwrap(api.GET("/api/auth/me")), staleTime: 60_000 });
}
