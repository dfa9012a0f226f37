// Emoji for reactions: a row of common ones, and a search over emojilib's keywords (loaded
// only when the picker's search is used).

/** The quick row, as most chat apps offer it. */
export const COMMON = ['👍', '❤️', '😂', '🎉', '😮', '😢', '🙏', '👀'];

/** emoji → keywords, the first being its name in snake_case ("thumbs_up"). */
export type EmojiKeywords = Record<string, string[]>;

let loaded: Promise<EmojiKeywords> | null = null;

/** emojilib's table, loaded once on first use. */
export function emojiTable(): Promise<EmojiKeywords> {
  loaded ??= import('emojilib').then((m) => m.default);
  return loaded;
}

/**
 * Emoji whose name or a keyword starts with a word of the query (all words must match),
 * names matching first, in the table's (Unicode) order otherwise.
 */
export function searchEmoji(table: EmojiKeywords, query: string, limit = 48): { emoji: string; name: string }[] {
  const words = query.toLowerCase().trim().split(/[\s_]+/).filter(Boolean);
  const out: { emoji: string; name: string; score: number }[] = [];
  for (const [emoji, keywords] of Object.entries(table)) {
    const name = keywords[0] ?? '';
    const nameWords = name.split('_');
    let score = 0;
    let all = true;
    for (const w of words) {
      if (nameWords.some((n) => n.startsWith(w))) score += 2;
      else if (keywords.some((k) => k.startsWith(w))) score += 1;
      else all = false;
    }
    if (all) out.push({ emoji, name: name.replaceAll('_', ' '), score });
  }
  out.sort((a, b) => b.score - a.score);
  return out.slice(0, limit).map(({ emoji, name }) => ({ emoji, name }));
}
