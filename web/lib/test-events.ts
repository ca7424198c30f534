import type { StoredEvent } from "./timeline";

/**
 * Stored events for unit tests, numbered like one stream: `ev(type, second, payload)`
 * gives the next version (event id, positions, a time `second`s after 2026-01-01);
 * `restart()` numbers from 1 again for the next stream.
 */
export function testStream(): {
  ev: (event_type: string, second: number, payload?: Record<string, unknown>) => StoredEvent;
  restart: () => void;
} {
  let version = 0;
  return {
    ev(event_type, second, payload = {}) {
      version += 1;
      return {
        event_id: `e${version}`,
        event_type,
        global_position: 100 + version,
        payload,
        recorded_at: new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString(),
        schema_version: 1,
        stream_version: version,
      };
    },
    restart() {
      version = 0;
    },
  };
}
