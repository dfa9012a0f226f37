import { describe, expect, it } from 'vitest';
import { emojiTable, searchEmoji } from './emoji';

describe('searchEmoji', () => {
  const table = { '😀': ['grinning_face', 'smile', 'happy'], '👍': ['thumbs_up', 'yes', 'approve'], '🎉': ['party_popper', 'tada'] };

  it('finds by the start of a word of the name first, then of a keyword', () => {
    expect(searchEmoji(table, 'thu')).toEqual([{ emoji: '👍', name: 'thumbs up' }]);
    expect(searchEmoji(table, 'ta')).toEqual([{ emoji: '🎉', name: 'party popper' }]);
    expect(searchEmoji(table, 'face smi').map((e) => e.emoji)).toEqual(['😀']);
    expect(searchEmoji(table, 'nothing')).toEqual([]);
    expect(searchEmoji(table, '')).toHaveLength(3);
  });

  it('searches the real table', async () => {
    const real = await emojiTable();
    expect(searchEmoji(real, 'thumbs up')[0].emoji).toBe('👍');
    expect(searchEmoji(real, 'heart').length).toBeGreaterThan(5);
  });
});
