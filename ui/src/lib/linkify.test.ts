import { describe, expect, it } from 'vitest';
import { linkify } from './linkify';

describe('linkify', () => {
  it('keeps plain text as text', () => {
    expect(linkify('hello <b>there</b>')).toEqual([{ kind: 'text', text: 'hello <b>there</b>' }]);
  });

  it('finds http and https addresses and leaves the sentence punctuation out', () => {
    expect(linkify('see https://example.com/a?b=1, then http://x.org.')).toEqual([
      { kind: 'text', text: 'see ' },
      { kind: 'link', text: 'https://example.com/a?b=1', url: 'https://example.com/a?b=1' },
      { kind: 'text', text: ', then ' },
      { kind: 'link', text: 'http://x.org', url: 'http://x.org' },
      { kind: 'text', text: '.' },
    ]);
  });

  it('never makes a link of other schemes', () => {
    const segs = linkify('javascript:alert(1) data:text/html,<script>x</script> file:///etc/passwd');
    expect(segs.every((s) => s.kind === 'text')).toBe(true);
  });

  it('stops at quotes and angle brackets so markup cannot ride along', () => {
    const segs = linkify('<a href="https://evil.example/x">y</a>');
    const link = segs.find((s) => s.kind === 'link');
    expect(link?.url).toBe('https://evil.example/x');
  });
});
