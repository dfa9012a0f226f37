// Mentions in message text: a mention is a structured reference (the user id travels in the
// message's `mentions`); the text carries "@Display Name" for people to read. This module
// finds those names in text (to highlight them) and tracks the ones the composer inserted.

/** Someone who may be mentioned: their id and the name written after "@". */
export type Mentionable = { id: string; name: string };

export type MentionSegment = { kind: 'text'; text: string } | { kind: 'mention'; text: string; id: string };

/**
 * Splits `text` at every "@Name" of the people in `people` (longest name first, so "@Ann Lee"
 * wins over "@Ann"). A name must not run on into a letter or digit ("@Annabel" is not "@Ann").
 */
export function splitMentions(text: string, people: Mentionable[]): MentionSegment[] {
  const named = people.filter((p) => p.name).sort((a, b) => b.name.length - a.name.length);
  const out: MentionSegment[] = [];
  let plain = '';
  let i = 0;
  while (i < text.length) {
    if (text[i] === '@') {
      const hit = named.find((p) => text.startsWith(p.name, i + 1) && !wordChar(text[i + 1 + p.name.length]));
      if (hit) {
        if (plain) out.push({ kind: 'text', text: plain });
        plain = '';
        out.push({ kind: 'mention', text: `@${hit.name}`, id: hit.id });
        i += 1 + hit.name.length;
        continue;
      }
    }
    plain += text[i];
    i += 1;
  }
  if (plain) out.push({ kind: 'text', text: plain });
  return out;
}

function wordChar(c: string | undefined): boolean {
  return c !== undefined && /[\p{L}\p{N}_]/u.test(c);
}

/** The ids of the tracked mentions whose "@Name" is still in the text (deduplicated). */
export function mentionedIds(text: string, tracked: Mentionable[]): string[] {
  const ids = new Set<string>();
  for (const s of splitMentions(text, tracked)) if (s.kind === 'mention') ids.add(s.id);
  return [...ids];
}

/**
 * The "@query" being typed at the caret, if any: it starts at a "@" that begins the text or
 * follows a space or a line break, and runs to the caret without a line break.
 */
export function activeMention(text: string, caret: number): { start: number; query: string } | null {
  const before = text.slice(0, caret);
  const at = before.lastIndexOf('@');
  if (at < 0) return null;
  if (at > 0 && !/\s/.test(before[at - 1])) return null;
  const query = before.slice(at + 1);
  if (/[\n\r]/.test(query) || query.length > 64) return null;
  return { start: at, query };
}

/** People whose name or id starts with the query (or has a word that does), best first. */
export function completeMention(query: string, people: Mentionable[], limit = 8): Mentionable[] {
  const q = fold(query.trim());
  const score = (p: Mentionable): number => {
    const name = fold(p.name);
    const id = fold(p.id);
    if (!q) return 1;
    if (name.startsWith(q) || id.startsWith(q)) return 2;
    if (name.split(/\s+/).some((w) => w.startsWith(q))) return 1;
    return 0;
  };
  return people
    .map((p) => ({ p, s: score(p) }))
    .filter((x) => x.s > 0)
    .sort((a, b) => b.s - a.s || a.p.name.localeCompare(b.p.name))
    .slice(0, limit)
    .map((x) => x.p);
}

function fold(s: string): string {
  return s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
}
