import { describe, expect, it } from 'vitest';
import { avatarColour, contrastWithWhite, hue, initials, readableLightness } from './avatar';

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

  it('keeps white initials readable (4.5:1) on every hue', () => {
    expect(contrastWithWhite(0, 0, 0)).toBeCloseTo(21, 0);
    expect(contrastWithWhite(0, 0, 1)).toBeCloseTo(1, 5);
    for (let h = 0; h < 360; h++) {
      expect(contrastWithWhite(h, 0.55, readableLightness(h) / 100)).toBeGreaterThanOrEqual(4.5);
    }
    expect(readableLightness(230)).toBe(42);
    expect(readableLightness(60)).toBeLessThan(42);
  });
});
