// Splits message text into plain text and web addresses, so that a message renders as text
// (never as markup) with its links made clickable. Only http(s) addresses become links.

export type Segment = { kind: 'text'; text: string } | { kind: 'link'; text: string; url: string };

const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;
// Punctuation that usually ends a sentence rather than an address.
const TRAILING = /[.,;:!?)\]}]+$/;

export function linkify(text: string): Segment[] {
  const out: Segment[] = [];
  let last = 0;
  for (const m of text.matchAll(URL_RE)) {
    let url = m[0];
    const start = m.index ?? 0;
    const trail = url.match(TRAILING);
    if (trail) {
      // Keep a closing parenthesis that has its opening one inside the address.
      const keepParen = trail[0].startsWith(')') && url.includes('(');
      if (!keepParen) url = url.slice(0, url.length - trail[0].length);
    }
    if (start > last) out.push({ kind: 'text', text: text.slice(last, start) });
    out.push({ kind: 'link', text: url, url });
    last = start + url.length;
  }
  if (last < text.length) out.push({ kind: 'text', text: text.slice(last) });
  return out;
}
