// Files as people see them: sizes in words, names for pasted images, what kind a file is,
// how far an upload got (per file, from the engine's live total), and the box an image takes
// in the timeline before it has loaded (so nothing jumps).
import type { Attachment, OutboxFile, UploadProgress } from '../ipc/bindings';

const UNITS = ['KB', 'MB', 'GB', 'TB'];

/** "512 bytes", "1.2 KB", "25 MB", "3.4 GB" (1 KB = 1024 bytes, as chat apps count). */
export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '';
  if (bytes < 1024) return bytes === 1 ? '1 byte' : `${bytes} bytes`;
  let n = bytes / 1024;
  let u = 0;
  while (n >= 1024 && u < UNITS.length - 1) {
    n /= 1024;
    u++;
  }
  const shown = n >= 100 || Number.isInteger(n) ? Math.round(n).toString() : n.toFixed(1).replace(/\.0$/, '');
  return `${shown} ${UNITS[u]}`;
}

const EXTENSIONS: Record<string, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/gif': 'gif',
  'image/webp': 'webp',
  'image/bmp': 'bmp',
  'image/tiff': 'tif',
  'image/svg+xml': 'svg',
  'image/avif': 'avif',
  'application/pdf': 'pdf',
  'text/plain': 'txt',
};

/** Names a webview gives clipboard files that say nothing (a screenshot arrives as "image.png"). */
const GENERIC = /^(image|blob|clipboard|untitled)(\.[a-z0-9]+)?$/i;

const two = (n: number) => String(n).padStart(2, '0');

/**
 * The name of a pasted file: its own when it has a real one (a file copied in a file
 * manager), else "Pasted image 2026-12-02 14.03.png" from the time and type (no ":", which
 * some systems refuse in names).
 */
export function pastedName(given: string, type: string, now: Date = new Date()): string {
  const own = given.trim();
  if (own && !GENERIC.test(own) && !/[/\\]/.test(own)) return own;
  const ext = EXTENSIONS[type.toLowerCase()] ?? (own.match(/\.([a-z0-9]+)$/i)?.[1] ?? 'bin');
  const kind = type.startsWith('image/') ? 'Pasted image' : 'Pasted file';
  const when = `${now.getFullYear()}-${two(now.getMonth() + 1)}-${two(now.getDate())} ${two(now.getHours())}.${two(now.getMinutes())}`;
  return `${kind} ${when}.${ext}`;
}

/** Types the timeline shows inline (the server makes their thumbnails). */
export function isInlineImage(a: Pick<Attachment, 'contentType' | 'hasThumbnail'>): boolean {
  return a.hasThumbnail && /^image\/(png|jpeg|gif|webp)$/.test(a.contentType);
}

/** "PDF document", "ZIP archive", "PNG image", "TXT file": a file card's type line. */
export function typeLabel(contentType: string, name: string): string {
  const ext = name.includes('.') ? name.split('.').pop()!.toUpperCase() : '';
  const t = contentType.toLowerCase();
  if (t === 'application/pdf') return 'PDF document';
  if (/zip|x-tar|gzip|x-7z|x-rar/.test(t)) return `${ext || 'Compressed'} archive`;
  if (t.startsWith('image/')) return `${ext || t.slice(6).toUpperCase()} image`;
  if (t.startsWith('audio/')) return `${ext || 'Audio'} audio`;
  if (t.startsWith('video/')) return `${ext || 'Video'} video`;
  if (t.startsWith('text/')) return `${ext || 'Text'} text`;
  return ext ? `${ext} file` : 'File';
}

export interface FileProgress {
  name: string;
  size: number;
  sent: number;
  /** 0 to 1. */
  fraction: number;
  done: boolean;
}

/**
 * How far each file of an outbox entry got: the acknowledged bytes in the entry (per chunk,
 * also after a restart), or further the engine's live count for the whole entry (`live.sent`
 * runs over the files in order), whichever is ahead.
 */
export function fileProgress(files: OutboxFile[], live?: UploadProgress | null): FileProgress[] {
  let before = 0;
  return files.map((f) => {
    const size = Math.max(0, f.size);
    const fromLive = live ? Math.min(size, Math.max(0, live.sent - before)) : 0;
    before += size;
    const sent = f.done ? size : Math.max(f.sent, fromLive);
    return { name: f.name, size, sent, fraction: size > 0 ? sent / size : 1, done: f.done };
  });
}

/** The whole entry's progress, 0 to 1 (1 when it has no bytes). */
export function totalFraction(files: FileProgress[]): number {
  const size = files.reduce((n, f) => n + f.size, 0);
  return size > 0 ? files.reduce((n, f) => n + f.sent, 0) / size : 1;
}

/** The box an image takes in the timeline: its size fitted into `max` × `max`, never enlarged. */
export function fitBox(width: number | null | undefined, height: number | null | undefined, max = 320): { width: number; height: number } {
  const w = Number(width ?? 0);
  const h = Number(height ?? 0);
  if (!(w > 0 && h > 0)) return { width: max, height: Math.round(max * 0.75) };
  const scale = Math.min(1, max / w, max / h);
  return { width: Math.max(1, Math.round(w * scale)), height: Math.max(1, Math.round(h * scale)) };
}

/** The viewer's zoom steps (1 is the image's own size); `fit` is worked out per window. */
export const ZOOMS = [0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 8];

/** The next zoom in (`dir` 1) or out (-1) from `now`. */
export function nextZoom(now: number, dir: 1 | -1): number {
  if (dir > 0) return ZOOMS.find((z) => z > now + 1e-9) ?? ZOOMS[ZOOMS.length - 1];
  return [...ZOOMS].reverse().find((z) => z < now - 1e-9) ?? ZOOMS[0];
}

/** The zoom that fits a `w`×`h` image into a `boxW`×`boxH` view (never above 1). */
export function fitZoom(w: number, h: number, boxW: number, boxH: number): number {
  if (!(w > 0 && h > 0 && boxW > 0 && boxH > 0)) return 1;
  return Math.min(1, boxW / w, boxH / h);
}
