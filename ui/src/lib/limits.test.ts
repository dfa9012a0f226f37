import { describe, expect, it } from 'vitest';
import { charCount, lengthNote, MAX_MESSAGE_CHARS } from './limits';

describe('lengthNote', () => {
  it('says nothing far from the limit', () => {
    expect(lengthNote('hello')).toEqual({ text: '', over: false });
  });
  it('counts near the limit, and at it', () => {
    expect(lengthNote('x'.repeat(3600))).toEqual({ text: '3,600 / 4,000', over: false });
    expect(lengthNote('x'.repeat(MAX_MESSAGE_CHARS)).over).toBe(false);
  });
  it('refuses past it, saying by how much and what to do', () => {
    const n = lengthNote('x'.repeat(4512));
    expect(n.over).toBe(true);
    expect(n.text).toBe('4,512 / 4,000: 512 characters too long. Shorten it, or send it in parts.');
    expect(lengthNote('x'.repeat(4001)).text).toContain('1 character too long');
  });
  it('counts characters as the server does, not UTF-16 units', () => {
    expect(charCount('😀é')).toBe(2);
    expect(lengthNote('😀'.repeat(4000)).over).toBe(false);
  });
});
