import { describe, expect, it } from 'vitest';
import { actionFor, SHEET, step, stepUnread, zoomStep, ZOOM_STEPS, type KeyPress } from './shortcuts';

const press = (key: string, mods: Partial<KeyPress> = {}): KeyPress => ({
  key, ctrlKey: false, metaKey: false, altKey: false, shiftKey: false, ...mods,
});

describe('actionFor', () => {
  it('maps Alt+arrows to conversations and Alt+Shift+arrows to unread ones', () => {
    expect(actionFor(press('ArrowUp', { altKey: true }))).toBe('prev-conversation');
    expect(actionFor(press('ArrowDown', { altKey: true }))).toBe('next-conversation');
    expect(actionFor(press('ArrowUp', { altKey: true, shiftKey: true }))).toBe('prev-unread');
    expect(actionFor(press('ArrowDown', { altKey: true, shiftKey: true }))).toBe('next-unread');
    expect(actionFor(press('ArrowDown'))).toBeNull();
    expect(actionFor(press('x', { altKey: true }))).toBeNull();
  });

  it('maps the Ctrl shortcuts, Cmd too, whatever the case or Shift', () => {
    expect(actionFor(press('k', { ctrlKey: true }))).toBe('switcher');
    expect(actionFor(press('K', { metaKey: true }))).toBe('switcher');
    expect(actionFor(press('n', { ctrlKey: true }))).toBe('new-conversation');
    expect(actionFor(press('f', { ctrlKey: true }))).toBe('search');
    expect(actionFor(press(',', { ctrlKey: true }))).toBe('settings');
    expect(actionFor(press('/', { ctrlKey: true }))).toBe('shortcuts');
    expect(actionFor(press('?', { ctrlKey: true, shiftKey: true }))).toBe('shortcuts');
    expect(actionFor(press('=', { ctrlKey: true }))).toBe('zoom-in');
    expect(actionFor(press('+', { ctrlKey: true, shiftKey: true }))).toBe('zoom-in');
    expect(actionFor(press('-', { ctrlKey: true }))).toBe('zoom-out');
    expect(actionFor(press('0', { ctrlKey: true }))).toBe('zoom-reset');
    expect(actionFor(press('c', { ctrlKey: true }))).toBeNull();
    expect(actionFor(press('k', { ctrlKey: true, altKey: true }))).toBeNull();
  });

  it('maps a bare Escape to close, and nothing while an IME composes', () => {
    expect(actionFor(press('Escape'))).toBe('close');
    expect(actionFor(press('Escape', { shiftKey: true }))).toBeNull();
    expect(actionFor(press('k', { ctrlKey: true, isComposing: true }))).toBeNull();
    expect(actionFor(press('k'))).toBeNull();
  });
});

describe('step', () => {
  const ids = ['a', 'b', 'c'];
  it('moves and wraps', () => {
    expect(step(ids, 'a', 1)).toBe('b');
    expect(step(ids, 'c', 1)).toBe('a');
    expect(step(ids, 'a', -1)).toBe('c');
  });
  it('starts at an end when nothing is open, and is null for an empty list', () => {
    expect(step(ids, null, 1)).toBe('a');
    expect(step(ids, null, -1)).toBe('c');
    expect(step(ids, 'gone', 1)).toBe('a');
    expect(step([], null, 1)).toBeNull();
  });
});

describe('stepUnread', () => {
  const list = [
    { id: 'a', unread: 0 },
    { id: 'b', unread: 2 },
    { id: 'c', unread: 0 },
    { id: 'd', unread: 1 },
  ];
  it('finds the next unread one in each direction, wrapping', () => {
    expect(stepUnread(list, 'a', 1)).toBe('b');
    expect(stepUnread(list, 'b', 1)).toBe('d');
    expect(stepUnread(list, 'd', 1)).toBe('b');
    expect(stepUnread(list, 'c', -1)).toBe('b');
    expect(stepUnread(list, 'a', -1)).toBe('d');
    expect(stepUnread(list, null, 1)).toBe('b');
    expect(stepUnread(list, null, -1)).toBe('d');
  });
  it('is null when nothing else is unread', () => {
    expect(stepUnread([{ id: 'a', unread: 3 }, { id: 'b', unread: 0 }], 'a', 1)).toBeNull();
    expect(stepUnread([], null, 1)).toBeNull();
  });
});

describe('zoomStep', () => {
  it('steps through the sizes and stops at the ends', () => {
    expect(zoomStep(100, 1)).toBe(110);
    expect(zoomStep(100, -1)).toBe(90);
    expect(zoomStep(105, 1)).toBe(110);
    expect(zoomStep(105, -1)).toBe(100);
    expect(zoomStep(300, 1)).toBe(300);
    expect(zoomStep(50, -1)).toBe(50);
    expect(ZOOM_STEPS).toContain(100);
  });
});

describe('SHEET', () => {
  it('lists every app shortcut and the message keys', () => {
    const all = SHEET.flatMap((g) => g.keys.map((k) => k.keys)).join(' | ');
    for (const k of ['Alt+↑', 'Alt+Shift+↑', 'Ctrl+K', 'Ctrl+N', 'Ctrl+F', 'Ctrl+,', 'Ctrl+/', 'Ctrl+=', 'Ctrl+0', 'Escape', 'R', '+', 'E', 'Delete']) {
      expect(all).toContain(k);
    }
  });
});
