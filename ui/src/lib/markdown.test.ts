import { describe, expect, it } from 'vitest';
import { markdownToText, renderMarkdown, safeLink, usesMarkdown } from './markdown';

describe('renderMarkdown', () => {
  it('renders the subset: bold, italic, strikethrough, inline code, code blocks, quotes, links', () => {
    expect(renderMarkdown('**bold** *it* _it2_ ~~gone~~ `x < y`')).toBe(
      '<p><strong>bold</strong> <em>it</em> <em>it2</em> <s>gone</s> <code>x &lt; y</code></p>\n',
    );
    expect(renderMarkdown('```\nfn main() {}\n```')).toBe('<pre><code>fn main() {}\n</code></pre>\n');
    expect(renderMarkdown('> quoted')).toBe('<blockquote>\n<p>quoted</p>\n</blockquote>\n');
    expect(renderMarkdown('[site](https://example.com/a)')).toBe(
      '<p><a href="https://example.com/a" rel="noopener noreferrer" class="link">site</a></p>\n',
    );
  });

  it('never renders raw HTML: a script or an image stays text', () => {
    const html = renderMarkdown('<script>alert(1)</script> **x** <img src=x onerror=alert(1)>');
    expect(html).not.toContain('<script');
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(renderMarkdown('```html\n<script>x</script>\n```')).toContain('&lt;script&gt;x&lt;/script&gt;');
  });

  it('refuses javascript:, data: and other unsafe link targets', () => {
    for (const bad of ['javascript:alert(1)', 'JaVaScRiPt:alert(1)', 'data:text/html,<b>x</b>', 'vbscript:x', 'file:///etc/passwd']) {
      const html = renderMarkdown(`[click](${bad})`);
      expect(html).not.toContain('<a');
      expect(safeLink(bad)).toBe(false);
    }
    expect(renderMarkdown('<javascript:alert(1)>')).not.toContain('<a');
    expect(safeLink('https://x.org')).toBe(true);
  });

  it('leaves out what is not in the subset: headings, images, lists, tables, HTML entities as markup', () => {
    expect(renderMarkdown('# not a heading')).toBe('<p># not a heading</p>\n');
    expect(renderMarkdown('![img](https://x.org/a.png)')).not.toContain('<img');
    expect(renderMarkdown('- item')).toBe('<p>- item</p>\n');
    expect(renderMarkdown('&lt;b&gt;')).toBe('<p>&lt;b&gt;</p>\n');
  });

  it('links whole http(s) addresses like TEXT does, not bare domains', () => {
    expect(renderMarkdown('see https://x.org/a, and example.com')).toBe(
      '<p>see <a href="https://x.org/a" rel="noopener noreferrer" class="link">https://x.org/a</a>, and example.com</p>\n',
    );
  });

  it('highlights mentions, mine more strongly, escaped, but not inside code or links', () => {
    const env = { mentions: [{ id: 'alice', name: 'Alice <A>' }, { id: 'bob', name: 'Bob' }], me: 'alice' };
    expect(renderMarkdown('**hi @Alice <A>** and @Bob `@Bob`', env)).toBe(
      '<p><strong>hi <span class="mention me" data-user="alice">@Alice &lt;A&gt;</span></strong> and ' +
        '<span class="mention" data-user="bob">@Bob</span> <code>@Bob</code></p>\n',
    );
  });
});

describe('usesMarkdown', () => {
  it('is true for the syntax of the subset', () => {
    for (const t of ['**bold**', 'a *b* c', '_it_', '~~x~~', 'run `ls`', '```\ncode\n```', '> quote', '[a](https://x.org)']) {
      expect(usesMarkdown(t), t).toBe(true);
    }
  });

  it('is false for plain text, including snake_case, 2*3*4 and a lone asterisk', () => {
    for (const t of ['hello there', 'snake_case_name', '2 * 3 = 6', 'a*b', 'price: 5*', 'I <3 you', 'see https://x.org/a_b_c']) {
      expect(usesMarkdown(t), t).toBe(false);
    }
  });
});

describe('markdownToText', () => {
  it('reads as the rendering does, without the syntax', () => {
    expect(markdownToText('**strong** words')).toBe('strong words');
    expect(markdownToText('**bold** *it* _it2_ ~~gone~~ `x < y`')).toBe('bold it it2 gone x < y');
    expect(markdownToText('see [the site](https://example.com/a) and <https://example.org>')).toBe(
      'see the site and https://example.org',
    );
    expect(markdownToText('> quoted **words**')).toBe('quoted words');
    expect(markdownToText('```\nfn main() {}\n```')).toBe('fn main() {}');
  });

  it('keeps what is not markup: escapes, entities, snake_case, raw HTML as typed', () => {
    expect(markdownToText('\\*not italic\\* plain_snake_case 2 * 3 * 4')).toBe('*not italic* plain_snake_case 2 * 3 * 4');
    expect(markdownToText('fish &amp; chips')).toBe('fish & chips');
    expect(markdownToText('<b>not bold</b>')).toBe('<b>not bold</b>');
  });

  it('gives one line per paragraph or line break, and nothing for nothing', () => {
    expect(markdownToText('first **one**\nsecond\n\nthird')).toBe('first one\nsecond\nthird');
    expect(markdownToText('')).toBe('');
    expect(markdownToText('**')).toBe('**');
  });
});
