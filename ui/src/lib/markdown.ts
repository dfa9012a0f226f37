// Markdown for messages whose contentType is MARKDOWN: a subset (bold, italic,
// strikethrough, inline code, fenced code blocks, block quotes, links) rendered by
// markdown-it with raw HTML off, so markup in a message is always shown as text. Links are
// http(s) and mailto only (markdown-it already refuses javascript:, vbscript:, file: and
// data:); they open in the default browser (the view intercepts clicks). Mentions of the
// message's `mentions` become highlighted spans.
//
// Also: the same subset as plain text (the conversation list's preview), and whether a text
// the user wrote uses any of that syntax (the composer sends MARKDOWN only then, and TEXT
// otherwise).

import MarkdownIt, { type StateCore, type Token } from 'markdown-it';
import { splitMentions, type Mentionable } from './mentions';

const SAFE_LINK = /^(https?:|mailto:)/i;

/** What a rendering needs besides the text: who is mentioned, and who "me" is. */
export type RenderEnv = { mentions: Mentionable[]; me: string };

const md = new MarkdownIt('zero', { html: false, linkify: true, breaks: true, typographer: false });
md.enable([
  'fence',
  'blockquote',
  'paragraph',
  'newline',
  'escape',
  'backticks',
  'emphasis',
  'strikethrough',
  'link',
  'autolink',
  'linkify',
  'entity',
]);
// Only whole addresses become links (as for TEXT): not "example.com" nor bare e-mails.
md.linkify.set({ fuzzyLink: false, fuzzyEmail: false });
md.validateLink = (url: string) => SAFE_LINK.test(url.trim());

const defaultLinkOpen = md.renderer.rules.link_open;
md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
  tokens[idx].attrSet('rel', 'noopener noreferrer');
  tokens[idx].attrSet('class', 'link');
  return defaultLinkOpen ? defaultLinkOpen(tokens, idx, options, env, self) : self.renderToken(tokens, idx, options);
};
md.renderer.rules.mention = (tokens, idx, _options, env) => {
  const t = tokens[idx];
  const id = String(t.meta?.id ?? '');
  const cls = id === (env as RenderEnv | undefined)?.me ? 'mention me' : 'mention';
  return `<span class="${cls}" data-user="${md.utils.escapeHtml(id)}">${md.utils.escapeHtml(t.content)}</span>`;
};
md.core.ruler.push('mentions', (state: StateCore) => {
  const env = state.env as RenderEnv;
  if (!env?.mentions?.length) return;
  for (const block of state.tokens) {
    if (block.type !== 'inline' || !block.children) continue;
    const out: Token[] = [];
    let inLink = 0;
    for (const t of block.children) {
      if (t.type === 'link_open') inLink += 1;
      if (t.type === 'link_close') inLink -= 1;
      if (t.type !== 'text' || inLink > 0) {
        out.push(t);
        continue;
      }
      for (const s of splitMentions(t.content, env.mentions)) {
        const n = new state.Token(s.kind === 'mention' ? 'mention' : 'text', '', 0);
        n.content = s.text;
        if (s.kind === 'mention') n.meta = { id: s.id };
        out.push(n);
      }
    }
    block.children = out;
  }
});

/** The HTML of a MARKDOWN message (safe to insert: no raw HTML, only safe links). */
export function renderMarkdown(text: string, env: RenderEnv = { mentions: [], me: '' }): string {
  return md.render(text, env);
}

/**
 * A MARKDOWN message as plain text, as it reads rendered: the syntax gone (`**strong**`
 * reads "strong", `[site](https://…)` reads "site"), code and quotes as their text, one
 * line per paragraph or line break. From the same parser as {@link renderMarkdown}, so
 * what is markup there is markup here.
 */
export function markdownToText(text: string): string {
  const lines: string[] = [];
  let line = '';
  const flush = () => {
    if (line.trim()) lines.push(line.trim());
    line = '';
  };
  for (const block of md.parse(text, { mentions: [], me: '' })) {
    if (block.type === 'fence' || block.type === 'code_block') {
      flush();
      lines.push(...block.content.split('\n').filter((l) => l.trim()));
    } else if (block.type === 'inline') {
      for (const t of block.children ?? []) {
        if (t.type === 'text' || t.type === 'text_special' || t.type === 'code_inline') line += t.content;
        else if (t.type === 'softbreak' || t.type === 'hardbreak') flush();
      }
    } else if (block.type === 'paragraph_close') {
      flush();
    }
  }
  flush();
  return lines.join('\n');
}

/** Whether a link target may be opened (the view checks again before opening). */
export function safeLink(url: string): boolean {
  return SAFE_LINK.test(url.trim());
}

const SYNTAX = [
  /(\*\*|__)(?=\S)[\s\S]*?\S\1/, // **bold**, __bold__
  /(^|[^\w*])\*(?=\S)[^*\n]*?\S\*(?!\w)/, // *italic*
  /(^|[^\p{L}\p{N}_])_(?=\S)[^_\n]*?\S_(?![\p{L}\p{N}_])/u, // _italic_ (not snake_case)
  /~~(?=\S)[\s\S]*?\S~~/, // ~~strike~~
  /`[^`\n]+`/, // `code`
  /^```/m, // fenced code
  /^>\s/m, // > quote
  /\[[^\]\n]+\]\((https?:|mailto:)[^)\s]+\)/, // [text](url)
];

/** Whether the text uses Markdown syntax (then it is sent as MARKDOWN, else as TEXT). */
export function usesMarkdown(text: string): boolean {
  return SYNTAX.some((re) => re.test(text));
}
