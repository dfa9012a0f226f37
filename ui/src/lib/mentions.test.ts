import { describe, expect, it } from 'vitest';
import { activeMention, completeMention, mentionedIds, splitMentions } from './mentions';

const people = [
  { id: 'ann', name: 'Ann' },
  { id: 'annlee', name: 'Ann Lee' },
  { id: 'bob', name: 'Bob Okafor' },
];

describe('mentions', () => {
  it('splits the text at each @Name, longest name first, not inside a longer word', () => {
    expect(splitMentions('hi @Ann Lee and @Ann, not @Annabel or me@Bob Okafor', people)).toEqual([
      { kind: 'text', text: 'hi ' },
      { kind: 'mention', text: '@Ann Lee', id: 'annlee' },
      { kind: 'text', text: ' and ' },
      { kind: 'mention', text: '@Ann', id: 'ann' },
      { kind: 'text', text: ', not @Annabel or me' },
      { kind: 'mention', text: '@Bob Okafor', id: 'bob' },
    ]);
    expect(splitMentions('no mentions', [])).toEqual([{ kind: 'text', text: 'no mentions' }]);
  });

  it('keeps only tracked mentions still in the text, once each', () => {
    expect(mentionedIds('@Bob Okafor see @Bob Okafor', people)).toEqual(['bob']);
    expect(mentionedIds('Bob Okafor without the at', people)).toEqual([]);
  });

  it('finds the @query at the caret only at a word start and on one line', () => {
    expect(activeMention('hello @bo', 9)).toEqual({ start: 6, query: 'bo' });
    expect(activeMention('@', 1)).toEqual({ start: 0, query: '' });
    expect(activeMention('mail me@bo', 10)).toBeNull();
    expect(activeMention('@bo\nx', 5)).toBeNull();
    expect(activeMention('no at here', 10)).toBeNull();
  });

  it('completes on the start of the name, of any word of it, or of the id, accents folded', () => {
    const list = [...people, { id: 'zoe', name: 'Zoë Ångström' }];
    expect(completeMention('ok', list).map((p) => p.id)).toEqual(['bob']);
    expect(completeMention('ann', list).map((p) => p.id)).toEqual(['ann', 'annlee']);
    expect(completeMention('ang', list).map((p) => p.id)).toEqual(['zoe']);
    expect(completeMention('', list)).toHaveLength(4);
    expect(completeMention('x', list)).toEqual([]);
  });
});
