import { describe, expect, it } from 'vitest';
import { badge, bannerText, conversationName } from './format';
import type { CachedConversation } from '../ipc/bindings';

const conv = (over: Partial<CachedConversation>): CachedConversation => ({
  id: 'c1',
  kind: 'direct',
  title: null,
  createdBy: 'bob',
  createdAt: '2026-11-22T10:00:00.000Z',
  lastSeq: 0,
  syncedSeq: 0,
  readSeq: 0,
  unreadCount: 0,
  rev: 0,
  left: false,
  removedBy: null,
  leftThemselves: false,
  notifyLevel: 'all',
  muted: false,
  participants: [
    { id: 'alice', displayName: 'Alice', online: true, readSeq: 0 },
    { id: 'bob', displayName: 'Bob Okafor', online: false, readSeq: 0 },
  ],
  lastMessage: null,
  pending: 0,
  ...over,
});

describe('bannerText', () => {
  it('tells the truth about every state', () => {
    const now = Date.parse('2026-11-22T10:00:00.000Z');
    expect(bannerText({ state: 'live' })).toEqual({ text: 'Live', tone: 'ok' });
    expect(bannerText({ state: 'catchingUp', done: 120, total: 400 }).text).toBe('Catching up 120/400');
    expect(bannerText({ state: 'reconnecting', at: '2026-11-22T10:00:04.200Z', attempt: 3, reason: 'x' }, now).text).toBe(
      'Reconnecting in 5 s — showing what is cached',
    );
    expect(bannerText({ state: 'offline' }).tone).toBe('warn');
    expect(bannerText({ state: 'signedOut', reason: 'the refresh token was revoked' }).text).toContain('revoked');
  });
});

describe('conversationName', () => {
  it('uses the title of a group and the other person for a direct conversation', () => {
    expect(conversationName(conv({ kind: 'group', title: 'Team' }), 'alice')).toBe('Team');
    expect(conversationName(conv({}), 'alice')).toBe('Bob Okafor');
  });
});

describe('badge', () => {
  it('caps at 99+', () => {
    expect(badge(0)).toBe('');
    expect(badge(7)).toBe('7');
    expect(badge(250)).toBe('99+');
  });
});
