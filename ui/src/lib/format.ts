// Words and numbers for the screen.
import type { CachedConversation, EngineState } from '../ipc/bindings';

/** "14:05" today, "Mon 14:05" this week, else "2026-11-02". */
export function shortTime(iso: string, now: Date = new Date()): string {
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return '';
  const hm = t.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const sameDay = t.toDateString() === now.toDateString();
  if (sameDay) return hm;
  const days = (now.getTime() - t.getTime()) / 86_400_000;
  if (days < 6 && days >= 0) return `${t.toLocaleDateString([], { weekday: 'short' })} ${hm}`;
  return t.toISOString().slice(0, 10);
}

/** A group's title, or for a direct conversation the other person's name. */
export function conversationName(c: CachedConversation, me: string): string {
  if (c.title) return c.title;
  const other = c.participants.find((p) => p.id !== me);
  return other ? other.displayName : c.id;
}

/** The other participant of a direct conversation (for presence). */
export function otherParticipant(c: CachedConversation, me: string) {
  return c.kind === 'direct' ? c.participants.find((p) => p.id !== me) : undefined;
}

/** The banner's sentence for the connection state; `now` in ms. */
export function bannerText(s: EngineState, now: number = Date.now()): { text: string; tone: 'ok' | 'busy' | 'warn' | 'bad' } {
  switch (s.state) {
    case 'live':
      return { text: 'Live', tone: 'ok' };
    case 'connecting':
      return { text: 'Connecting…', tone: 'busy' };
    case 'catchingUp':
      return { text: s.total > 0 ? `Catching up ${s.done}/${s.total}` : 'Catching up…', tone: 'busy' };
    case 'reconnecting': {
      const secs = Math.max(0, Math.ceil((new Date(s.at).getTime() - now) / 1000));
      return {
        text: secs > 0 ? `Reconnecting in ${secs} s — showing what is cached` : 'Reconnecting…',
        tone: 'warn',
      };
    }
    case 'offline':
      return { text: 'Offline — showing what is cached', tone: 'warn' };
    case 'signedOut':
      return { text: `Signed out: ${s.reason}`, tone: 'bad' };
    case 'stopped':
      return { text: 'Stopped', tone: 'bad' };
  }
}

/** Unread count as a badge: "", "3", "99+". */
export function badge(n: number): string {
  if (n <= 0) return '';
  return n > 99 ? '99+' : String(n);
}
