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

/** The background colour for an id: one hue, a lightness white text reads on. */
export function avatarColour(id: string): string {
  return `hsl(${hue(id)} 55% 42%)`;
}
