// The message length limit as the user sees it: a counter near the limit and a refusal past
// it (the text is never cut). The server counts characters (Unicode scalar values), as here.

export const MAX_MESSAGE_CHARS = 4000;
/** The counter shows from here on. */
export const SHOW_COUNT_FROM = 3500;

/** Characters as the server counts them (an emoji made of one code point is one). */
export function charCount(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

const num = (n: number) => n.toLocaleString('en');

/** The counter's words ("" when far from the limit), and whether the text is over it. */
export function lengthNote(text: string, max = MAX_MESSAGE_CHARS): { text: string; over: boolean } {
  const n = charCount(text);
  if (n > max) {
    const extra = n - max;
    return {
      text: `${num(n)} / ${num(max)}: ${num(extra)} ${extra === 1 ? 'character' : 'characters'} too long. Shorten it, or send it in parts.`,
      over: true,
    };
  }
  if (n >= SHOW_COUNT_FROM) return { text: `${num(n)} / ${num(max)}`, over: false };
  return { text: '', over: false };
}
