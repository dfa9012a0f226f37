// What the account switcher shows and which key picks which account: pure logic, unit tested.
import type { SessionInfo } from '../ipc/bindings';

/** The server's host (and port) from its address: `https://chat.example.com` → `chat.example.com`. */
export function hostOf(server: string): string {
  return server.replace(/^[a-z]+:\/\//i, '').replace(/\/+$/, '');
}

/** How an account is named to people: `alice on chat.example.com`. */
export function accountLabel(a: SessionInfo): string {
  return `${a.user} on ${hostOf(a.server)}`;
}

/**
 * The account Ctrl+1…9 (or ⌘ on macOS) picks: the n-th of the switcher, or `null` when the key
 * is not one of those or there is no n-th account. Alt or Shift with it is something else.
 */
export function accountForKey(
  e: { key: string; ctrlKey: boolean; metaKey: boolean; altKey: boolean; shiftKey: boolean },
  accounts: readonly string[],
): string | null {
  if (!(e.ctrlKey || e.metaKey) || e.altKey || e.shiftKey) return null;
  if (!/^[1-9]$/.test(e.key)) return null;
  return accounts[Number(e.key) - 1] ?? null;
}

/** The badge of an account: its unread count, `99+` past 99, nothing at 0. */
export function accountBadge(unread: number): string {
  if (unread <= 0) return '';
  return unread > 99 ? '99+' : String(unread);
}
