// Chromium flags for every scripted browser here: headless, offline-quiet (no background
// networking, component updates, sync or QUIC), root-safe (--no-sandbox), no GPU.
export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
