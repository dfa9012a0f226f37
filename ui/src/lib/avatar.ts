// Avatars drawn from a name: initials on a colour that depends only on the user id, so a
// person has the same colour everywhere and on every device.

/** Up to two initials: the first letters of the first and last words ("Bob Okafor" → "BO"). */
export function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return '?';
  const first = [...words[0]][0] ?? '';
  const last = words.length > 1 ? ([...words[words.length - 1]][0] ?? '') : '';
  return (first + last).toUpperCase();
}

/** A hue (0-359) from the id (FNV-1a): stable, spread out. */
export function hue(id: string): number {
  let h = 0x811c9dc5;
  for (const ch of id) {
    h ^= ch.codePointAt(0) ?? 0;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % 360;
}

/** The background colour for an id: its hue, at the lightest lightness (from 42 %) on which
 * white initials keep a contrast of 4.5:1 (WCAG AA), so yellows and greens darken. */
export function avatarColour(id: string): string {
  const h = hue(id);
  return `hsl(${h} 55% ${readableLightness(h)}%)`;
}

/** The lightness (percent) for hue `h` at 55 % saturation with a 4.5:1 contrast to white. */
export function readableLightness(h: number): number {
  let l = 42;
  while (l > 10 && contrastWithWhite(h, 0.55, l / 100) < 4.6) l -= 2;
  return l;
}

/** WCAG contrast ratio of white on hsl(h, s, l). */
export function contrastWithWhite(h: number, s: number, l: number): number {
  const a = s * Math.min(l, 1 - l);
  const channel = (n: number) => {
    const k = (n + h / 30) % 12;
    const c = l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const lum = 0.2126 * channel(0) + 0.7152 * channel(8) + 0.0722 * channel(4);
  return 1.05 / (lum + 0.05);
}
