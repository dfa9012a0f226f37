import { describe, expect, it } from 'vitest';
import { avatarColour, hue, initials } from './avatar';

describe('avatar', () => {
  it('takes the first letters of the first and last words', () => {
    expect(initials('Bob Okafor')).toBe('BO');
    expect(initials('alice')).toBe('A');
    expect(initials('  ann  marie  lee ')).toBe('AL');
    expect(initials('')).toBe('?');
    expect(initials('Émile Zola')).toBe('ÉZ');
  });

  it('gives an id the same colour every time, and different ids different colours', () => {
    expect(avatarColour('bob')).toBe(avatarColour('bob'));
    const hues = new Set(['alice', 'bob', 'carol', 'dave', 'erin'].map(hue));
    expect(hues.size).toBe(5);
    for (const h of hues) expect(h).toBeGreaterThanOrEqual(0);
  });
});
