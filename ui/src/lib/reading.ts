// What counts as read, and what the timeline shows around it: the "New messages" line, date
// separators, and the count on the jump button. Pure functions over numbers and messages, so
// the policy is tested apart from the DOM (ConversationView feeds them what an
// IntersectionObserver reports).
import type { Message } from '../ipc/bindings';

/** How a message sits in the timeline's viewport, as an IntersectionObserver reports it. */
export type Sighting = {
  /** The part of the message inside the viewport, 0 to 1. */
  ratio: number;
  /** How many pixels of it are inside the viewport. */
  visiblePx: number;
};

/** Whether the user can read the window now: it has the focus and is not hidden. */
export type Attention = { focused: boolean; visible: boolean };

/**
 * A message is seen when at least half of it is in view, or, for a message taller than that
 * allows, when it fills at least half of the viewport. A sliver at the edge is not seen.
 */
export function isSeen(s: Sighting, viewportPx: number): boolean {
  return s.ratio >= 0.5 || (viewportPx > 0 && s.visiblePx >= viewportPx / 2);
}

/**
 * The read marker to set, or null to leave it: the highest `seq` seen, when it is past the
 * current marker and the user is looking (window focused and shown). Markers only move
 * forward; seeing a message reads the ones above it (the user scrolled past them, or chose
 * to jump over them).
 */
export function readUpTo(sightings: Map<number, Sighting>, viewportPx: number, marker: number, attention: Attention): number | null {
  if (!attention.focused || !attention.visible) return null;
  let best = marker;
  for (const [seq, s] of sightings) {
    if (seq > best && isSeen(s, viewportPx)) best = seq;
  }
  return best > marker ? best : null;
}

/**
 * Where the "New messages" line goes when a conversation opens: the first message after the
 * read marker, or null when nothing is unread. Taken once, when the conversation opens, and
 * kept while it stays open (the line does not move as the user reads).
 */
export function firstUnread(lastSeq: number, readSeq: number): number | null {
  return lastSeq > readSeq ? readSeq + 1 : null;
}

/** How many messages from others below the marker are still unread (the jump button's count). */
export function unreadBelow(messages: Message[], marker: number, me: string): number {
  let n = 0;
  for (let i = messages.length - 1; i >= 0 && messages[i].seq > marker; i--) {
    const m = messages[i];
    if (m.senderId !== me && !m.system) n++;
  }
  return n;
}

/** The jump button's words (after a down-arrow icon): "3 new messages", or "Newest messages" when none are new. */
export function jumpLabel(unread: number): string {
  if (unread <= 0) return 'Newest messages';
  return `${unread > 99 ? '99+' : unread} new message${unread === 1 ? '' : 's'}`;
}

/** Whether two instants fall on the same local calendar day. */
export function sameDay(a: string, b: string): boolean {
  return new Date(a).toDateString() === new Date(b).toDateString();
}

/** A date separator's words: "Today", "Yesterday", a weekday within the week, else the date. */
export function dayLabel(iso: string, now: Date = new Date()): string {
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return '';
  const day = (d: Date) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const days = Math.round((day(now) - day(t)) / 86_400_000);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  if (days > 1 && days < 7) return t.toLocaleDateString([], { weekday: 'long' });
  const opts: Intl.DateTimeFormatOptions = { weekday: 'short', day: 'numeric', month: 'long' };
  if (t.getFullYear() !== now.getFullYear()) opts.year = 'numeric';
  return t.toLocaleDateString([], opts);
}
