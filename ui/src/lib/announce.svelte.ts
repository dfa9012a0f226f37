// What screen readers are told, and only that: new messages of the open conversation and
// changes of the connection, each once. The app has one polite live region (in App.svelte)
// that shows the last few announcements; nothing else on screen is a live region, so a
// reader never re-reads the timeline or the banner's countdown.

let next = 0;

export const announcer = $state({ items: [] as { id: number; text: string }[] });

/** Says `text` once (the region keeps the last five, so a burst is read in order). */
export function announce(text: string) {
  if (!text) return;
  announcer.items = [...announcer.items.slice(-4), { id: ++next, text }];
}

/**
 * Which messages are new arrivals worth announcing: those after `lastSeq` in the same
 * conversation, not the user's own nor system lines. A conversation just opened (another
 * `cid`), and the first page loaded into it, announce nothing: its history is not news.
 */
export function arrivals<M extends { seq: number; senderId: string; system?: unknown; deleted?: boolean }>(
  seen: { cid: string | null; lastSeq: number },
  cid: string | null,
  messages: M[],
  me: string,
): { seen: { cid: string | null; lastSeq: number }; news: M[] } {
  // lastSeq -1: opened, its messages not loaded yet (the first page that comes is history).
  const last = messages.at(-1)?.seq ?? -1;
  if (cid !== seen.cid || seen.lastSeq < 0) return { seen: { cid, lastSeq: last }, news: [] };
  const news = messages.filter((m) => m.seq > seen.lastSeq && m.senderId !== me && !m.system && !m.deleted);
  return { seen: { cid, lastSeq: Math.max(seen.lastSeq, last) }, news };
}

/** The connection's state as said once per change ("" for a change not worth saying). */
export function connectionWords(kind: string): string {
  switch (kind) {
    case 'live':
      return 'Connected';
    case 'reconnecting':
      return 'Connection lost; reconnecting. Showing what is cached.';
    case 'offline':
      return 'Offline. Showing what is cached.';
    case 'signedOut':
      return 'Signed out';
    default:
      return '';
  }
}
