import { describe, expect, it } from 'vitest';
import { arrivals, connectionWords } from './announce.svelte';

const m = (seq: number, senderId = 'bob', extra: object = {}) => ({ seq, senderId, ...extra });

describe('arrivals', () => {
  it('announces nothing for a conversation just opened', () => {
    const r = arrivals({ cid: null, lastSeq: 0 }, 'c1', [m(1), m(2)], 'alice');
    expect(r.news).toEqual([]);
    expect(r.seen).toEqual({ cid: 'c1', lastSeq: 2 });
  });
  it('takes the first page loaded after opening as history', () => {
    let r = arrivals({ cid: 'c0', lastSeq: 9 }, 'c1', [] as ReturnType<typeof m>[], 'alice');
    expect(r.seen).toEqual({ cid: 'c1', lastSeq: -1 });
    r = arrivals(r.seen, 'c1', [m(1), m(2)], 'alice');
    expect(r.news).toEqual([]);
    r = arrivals(r.seen, 'c1', [m(1), m(2), m(3)], 'alice');
    expect(r.news.map((x) => x.seq)).toEqual([3]);
  });
  it('announces what came after, not mine, not system lines, not deleted ones', () => {
    const r = arrivals({ cid: 'c1', lastSeq: 2 }, 'c1', [m(1), m(2), m(3), m(4, 'alice'), m(5, 'carol', { system: {} }), m(6, 'bob', { deleted: true }), m(7, 'carol')], 'alice');
    expect(r.news.map((x) => x.seq)).toEqual([3, 7]);
    expect(r.seen.lastSeq).toBe(7);
  });
  it('announces nothing again for the same messages, nor older pages loaded above', () => {
    const r = arrivals({ cid: 'c1', lastSeq: 7 }, 'c1', [m(1), m(2), m(7)], 'alice');
    expect(r.news).toEqual([]);
    expect(r.seen.lastSeq).toBe(7);
  });
});

describe('connectionWords', () => {
  it('says the states worth saying, and nothing for the busy ones', () => {
    expect(connectionWords('live')).toBe('Connected');
    expect(connectionWords('reconnecting')).toContain('reconnecting');
    expect(connectionWords('catchingUp')).toBe('');
    expect(connectionWords('connecting')).toBe('');
  });
});
