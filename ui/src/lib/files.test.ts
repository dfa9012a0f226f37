import { describe, expect, it } from 'vitest';
import type { OutboxFile } from '../ipc/bindings';
import { fileProgress, fitBox, fitZoom, formatSize, isInlineImage, nextZoom, pastedName, totalFraction, typeLabel } from './files';

describe('formatSize', () => {
  it('counts in 1024s with one decimal below 100', () => {
    expect(formatSize(0)).toBe('0 bytes');
    expect(formatSize(1)).toBe('1 byte');
    expect(formatSize(1023)).toBe('1023 bytes');
    expect(formatSize(1024)).toBe('1 KB');
    expect(formatSize(1536)).toBe('1.5 KB');
    expect(formatSize(25 * 1024 * 1024)).toBe('25 MB');
    expect(formatSize(30 * 1024 * 1024 + 1)).toBe('30 MB');
    expect(formatSize(2.44 * 1024 * 1024)).toBe('2.4 MB');
    expect(formatSize(150.4 * 1024 * 1024)).toBe('150 MB');
    expect(formatSize(3 * 1024 ** 3)).toBe('3 GB');
    expect(formatSize(-1)).toBe('');
  });
});

describe('pastedName', () => {
  const at = new Date(2026, 11, 2, 14, 3, 59);
  it('names a screenshot by the time, without a colon', () => {
    expect(pastedName('image.png', 'image/png', at)).toBe('Pasted image 2026-12-02 14.03.png');
    expect(pastedName('', 'image/jpeg', at)).toBe('Pasted image 2026-12-02 14.03.jpg');
    expect(pastedName('blob', 'application/octet-stream', at)).toBe('Pasted file 2026-12-02 14.03.bin');
  });
  it('keeps a real name', () => {
    expect(pastedName('holiday.webp', 'image/webp', at)).toBe('holiday.webp');
    expect(pastedName(' report.pdf ', 'application/pdf', at)).toBe('report.pdf');
  });
  it('never keeps a name with a path in it', () => {
    expect(pastedName('../x.png', 'image/png', at)).toBe('Pasted image 2026-12-02 14.03.png');
  });
  it('pads months, days, hours and minutes', () => {
    expect(pastedName('image.gif', 'image/gif', new Date(2027, 0, 5, 7, 9))).toBe('Pasted image 2027-01-05 07.09.gif');
  });
});

describe('kinds', () => {
  it('shows the four image types inline when they have a thumbnail', () => {
    expect(isInlineImage({ contentType: 'image/png', hasThumbnail: true })).toBe(true);
    expect(isInlineImage({ contentType: 'image/png', hasThumbnail: false })).toBe(false);
    expect(isInlineImage({ contentType: 'image/svg+xml', hasThumbnail: true })).toBe(false);
  });
  it('says what a file is', () => {
    expect(typeLabel('application/pdf', 'a.pdf')).toBe('PDF document');
    expect(typeLabel('application/zip', 'a.zip')).toBe('ZIP archive');
    expect(typeLabel('image/svg+xml', 'logo.svg')).toBe('SVG image');
    expect(typeLabel('application/octet-stream', 'photo.raw')).toBe('RAW file');
    expect(typeLabel('application/octet-stream', 'README')).toBe('File');
  });
});

const file = (name: string, size: number, sent = 0, done = false): OutboxFile => ({
  position: 0, name, contentType: null, size, sent, uploadId: null, done,
});

describe('fileProgress', () => {
  it('spreads the live total over the files in order', () => {
    const p = fileProgress([file('a', 100), file('b', 300)], { sent: 250, total: 400 });
    expect(p.map((f) => f.sent)).toEqual([100, 150]);
    expect(p[1].fraction).toBe(0.5);
    expect(totalFraction(p)).toBe(250 / 400);
  });
  it('keeps what the server acknowledged when nothing is live (offline, after a restart)', () => {
    const p = fileProgress([file('a', 100, 100, true), file('b', 300, 120)], null);
    expect(p.map((f) => f.sent)).toEqual([100, 120]);
    expect(p[0].done).toBe(true);
  });
  it('never goes back below the acknowledged bytes, nor past a file size', () => {
    const p = fileProgress([file('a', 100, 80)], { sent: 40, total: 100 });
    expect(p[0].sent).toBe(80);
    expect(fileProgress([file('a', 100)], { sent: 900, total: 100 })[0].sent).toBe(100);
  });
  it('counts nothing as done', () => {
    expect(totalFraction([])).toBe(1);
  });
});

describe('image boxes and zoom', () => {
  it('fits into the box keeping the ratio, never enlarging', () => {
    expect(fitBox(1600, 1200)).toEqual({ width: 320, height: 240 });
    expect(fitBox(600, 1200)).toEqual({ width: 160, height: 320 });
    expect(fitBox(40, 20)).toEqual({ width: 40, height: 20 });
    expect(fitBox(null, null)).toEqual({ width: 320, height: 240 });
  });
  it('steps through the zoom levels and fits', () => {
    expect(nextZoom(1, 1)).toBe(1.5);
    expect(nextZoom(1, -1)).toBe(0.75);
    expect(nextZoom(0.6, -1)).toBe(0.5);
    expect(nextZoom(8, 1)).toBe(8);
    expect(nextZoom(0.1, -1)).toBe(0.1);
    expect(fitZoom(4000, 3000, 800, 600)).toBe(0.2);
    expect(fitZoom(100, 100, 800, 600)).toBe(1);
  });
});
