import { describe, expect, it } from 'vitest';
import { dayLabel, firstUnread, isSeen, jumpLabel, readUpTo, sameDay, unreadBelow } from './reading';
import type { Message } from '../ipc/bindings';

const looking = { focused: true, visible: true };
const seen = (entries: [number, number, number][]) => new Map(entries.map(([seq, ratio, visiblePx]) => [seq, { ratio, visiblePx }]));

describe('what counts as seen', () => {
  it('is half a message in view, or half the viewport filled by a tall one', () => {
    expect(isSeen({ ratio: 0.5, visiblePx: 20 }, 600)).toBe(true);
    expect(isSeen({ ratio: 0.2, visiblePx: 8 }, 600)).toBe(false);
    expect(isSeen({ ratio: 0.3, visiblePx: 300 }, 600)).toBe(true);
    expect(isSeen({ ratio: 0, visiblePx: 0 }, 0)).toBe(false);
  });

  it('moves the marker to the highest message seen, only forward', () => {
    expect(readUpTo(seen([[11, 1, 40], [12, 1, 40], [13, 0.1, 4]]), 600, 10, looking)).toBe(12);
    expect(readUpTo(seen([[8, 1, 40], [9, 1, 40]]), 600, 10, looking)).toBeNull();
    expect(readUpTo(seen([[11, 0.1, 4]]), 600, 10, looking)).toBeNull();
    expect(readUpTo(new Map(), 600, 10, looking)).toBeNull();
  });

  it('reads nothing while the window is unfocused or hidden', () => {
    const s = seen([[11, 1, 40]]);
    expect(readUpTo(s, 600, 10, { focused: false, visible: true })).toBeNull();
    expect(readUpTo(s, 600, 10, { focused: true, visible: false })).toBeNull();
  });
});

const m = (seq: number, senderId: string, system = false): Message =>
  ({ seq, senderId, system: system ? { action: 'added', users: [] } : null }) as unknown as Message;

describe('the new-messages line and the jump button', () => {
  it('starts at the first message after the marker', () => {
    expect(firstUnread(90, 10)).toBe(11);
    expect(firstUnread(10, 10)).toBeNull();
  });

  it('counts unread messages from others below the marker', () => {
    const list = [m(1, 'bob'), m(2, 'me'), m(3, 'bob'), m(4, 'bob', true), m(5, 'carol')];
    expect(unreadBelow(list, 1, 'me')).toBe(2);
    expect(unreadBelow(list, 5, 'me')).toBe(0);
    expect(jumpLabel(0)).toBe('Newest messages');
    expect(jumpLabel(1)).toBe('1 new message');
    expect(jumpLabel(3)).toBe('3 new messages');
    expect(jumpLabel(250)).toBe('99+ new messages');
  });
});

describe('date separators', () => {
  const now = new Date(2026, 10, 22, 15, 0); // a Sunday
  it('say Today, Yesterday, the weekday within a week, else the date', () => {
    expect(dayLabel(new Date(2026, 10, 22, 0, 5).toISOString(), now)).toBe('Today');
    expect(dayLabel(new Date(2026, 10, 21, 23, 59).toISOString(), now)).toBe('Yesterday');
    expect(dayLabel(new Date(2026, 10, 18, 9).toISOString(), now)).toBe(
      new Date(2026, 10, 18).toLocaleDateString([], { weekday: 'long' }),
    );
    const old = dayLabel(new Date(2026, 9, 2, 9).toISOString(), now);
    expect(old).toContain('2');
    expect(old).not.toContain('2026');
    expect(dayLabel(new Date(2025, 9, 2, 9).toISOString(), now)).toContain('2025');
    expect(dayLabel('not a date', now)).toBe('');
  });

  it('split on the local calendar day', () => {
    expect(sameDay(new Date(2026, 0, 1, 0, 1).toISOString(), new Date(2026, 0, 1, 23, 59).toISOString())).toBe(true);
    expect(sameDay(new Date(2026, 0, 1, 23, 59).toISOString(), new Date(2026, 0, 2, 0, 1).toISOString())).toBe(false);
  });
});
