import { describe, expect, it } from 'vitest';
import { DraftKeeper } from './drafts';

/** Timers run by hand: `run()` fires what is due, in order. */
function manualTimers() {
  let next = 0;
  const due = new Map<number, () => void>();
  return {
    timers: {
      set: (f: () => void) => {
        due.set(++next, f);
        return next;
      },
      clear: (t: unknown) => void due.delete(t as number),
    },
    run: () => {
      const fs = [...due.values()];
      due.clear();
      fs.forEach((f) => f());
    },
    pending: () => due.size,
  };
}

function keeper() {
  const saved: [string, string, string | null][] = [];
  const t = manualTimers();
  const k = new DraftKeeper(async (c, text, reply) => void saved.push([c, text, reply]), {}, 400, t.timers);
  return { k, saved, t };
}

describe('drafts', () => {
  it('shows a draft at once and saves it once after the user pauses', () => {
    const { k, saved, t } = keeper();
    k.change('team', 'H', null);
    k.change('team', 'Hello', null);
    expect(k.get('team')).toEqual({ text: 'Hello', replyTo: null });
    expect(saved).toEqual([]);
    t.run();
    expect(saved).toEqual([['team', 'Hello', null]]);
  });

  it('keeps each conversation apart: switching saves what waits, text never crosses', () => {
    const { k, saved, t } = keeper();
    k.change('team', 'for the team', 'm1');
    k.flush('team');
    expect(saved).toEqual([['team', 'for the team', 'm1']]);
    k.change('bob', 'for bob', null);
    expect(k.get('team')?.text).toBe('for the team');
    expect(k.get('bob')?.text).toBe('for bob');
    t.run();
    expect(saved.at(-1)).toEqual(['bob', 'for bob', null]);
  });

  it('sending forgets the draft and drops a save still waiting (it never comes back)', () => {
    const { k, saved, t } = keeper();
    k.change('team', 'about to send', null);
    k.sent('team');
    t.run();
    expect(saved).toEqual([]);
    expect(k.get('team')).toBeUndefined();
  });

  it('erasing the text removes the draft; an unchanged value saves nothing', () => {
    const { k, saved, t } = keeper();
    k.load([{ conversationId: 'team', text: 'old', replyTo: null }]);
    k.change('team', 'old', null);
    expect(t.pending()).toBe(0);
    k.change('team', '', null);
    expect(k.get('team')).toBeUndefined();
    t.run();
    expect(saved).toEqual([['team', '', null]]);
    k.change('bob', '', null);
    expect(t.pending()).toBe(0);
  });

  it('loading from the cache keeps what was typed meanwhile', () => {
    const { k } = keeper();
    k.change('team', 'newer', null);
    k.load([{ conversationId: 'team', text: 'older', replyTo: null }, { conversationId: 'bob', text: 'hi', replyTo: null }]);
    expect(k.get('team')?.text).toBe('newer');
    expect(k.get('bob')?.text).toBe('hi');
  });
});
