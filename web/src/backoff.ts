// Reconnect delays: doubling from 250 ms up to 8 s, each jittered down by up to a half so a
// node's browsers do not all come back at the same moment.
const INITIAL_MS = 250;
const MAX_MS = 8000;

export function reconnectDelay(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(MAX_MS, INITIAL_MS * 2 ** Math.min(attempt, 10));
  return Math.round(base * (0.5 + random() / 2));
}
