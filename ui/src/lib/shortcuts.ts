// The app-wide keyboard shortcuts: which key press means which action (`actionFor`), the
// sheet that lists every shortcut (`SHEET`), and the small policies behind the actions
// (the next conversation, the next unread one, the next zoom step). Pure: what an action
// does to the app is in keyboard.svelte.ts.

export type Action =
  | 'prev-conversation'
  | 'next-conversation'
  | 'prev-unread'
  | 'next-unread'
  | 'switcher'
  | 'new-conversation'
  | 'search'
  | 'settings'
  | 'shortcuts'
  | 'zoom-in'
  | 'zoom-out'
  | 'zoom-reset'
  | 'close';

/** What `actionFor` reads of a KeyboardEvent. */
export type KeyPress = Pick<KeyboardEvent, 'key' | 'ctrlKey' | 'metaKey' | 'altKey' | 'shiftKey'> & { isComposing?: boolean };

/** The action of a key press anywhere in the window, or null. Ctrl is Cmd on macOS. */
export function actionFor(e: KeyPress): Action | null {
  if (e.isComposing) return null;
  const ctrl = e.ctrlKey || e.metaKey;
  if (e.altKey && !ctrl) {
    if (e.key === 'ArrowUp') return e.shiftKey ? 'prev-unread' : 'prev-conversation';
    if (e.key === 'ArrowDown') return e.shiftKey ? 'next-unread' : 'next-conversation';
    return null;
  }
  if (ctrl && !e.altKey) {
    switch (e.key.toLowerCase()) {
      case 'k':
        return 'switcher';
      case 'n':
        return 'new-conversation';
      case 'f':
        return 'search';
      case ',':
        return 'settings';
      case '/':
      case '?':
        return 'shortcuts';
      case '=':
      case '+':
        return 'zoom-in';
      case '-':
      case '_':
        return 'zoom-out';
      case '0':
        return 'zoom-reset';
    }
    return null;
  }
  if (e.key === 'Escape' && !ctrl && !e.altKey && !e.shiftKey) return 'close';
  return null;
}

/** The id `dir` (1 down, -1 up) steps from `current` in `ids`, wrapping; the first (or last) when none is open. */
export function step(ids: string[], current: string | null, dir: 1 | -1): string | null {
  if (ids.length === 0) return null;
  const at = current === null ? -1 : ids.indexOf(current);
  if (at < 0) return dir === 1 ? ids[0] : ids[ids.length - 1];
  return ids[(at + dir + ids.length) % ids.length];
}

/** The next conversation with unread messages in direction `dir` from `current`, wrapping; null when none. */
export function stepUnread(list: { id: string; unread: number }[], current: string | null, dir: 1 | -1): string | null {
  const n = list.length;
  const at = current === null ? (dir === 1 ? -1 : n) : list.findIndex((c) => c.id === current);
  for (let i = 1; i <= n; i++) {
    const c = list[(((at + dir * i) % n) + n) % n];
    if (c && c.unread > 0 && c.id !== current) return c.id;
  }
  return null;
}

/** The text sizes (percent) Ctrl+= and Ctrl+- step through, as browsers do; the settings accept 50-300. */
export const ZOOM_STEPS = [50, 67, 75, 80, 90, 100, 110, 125, 150, 175, 200, 250, 300] as const;

/** The text size one step bigger (`dir` 1) or smaller (-1) than `z` percent, kept within the steps. */
export function zoomStep(z: number, dir: 1 | -1): number {
  if (dir === 1) return ZOOM_STEPS.find((s) => s > z) ?? ZOOM_STEPS[ZOOM_STEPS.length - 1];
  return [...ZOOM_STEPS].reverse().find((s) => s < z) ?? ZOOM_STEPS[0];
}

/** Every shortcut, grouped, as the sheet (Ctrl+/) shows them. */
export const SHEET: { group: string; keys: { keys: string; what: string }[] }[] = [
  {
    group: 'Conversations',
    keys: [
      { keys: 'Alt+↑ / Alt+↓', what: 'Previous / next conversation' },
      { keys: 'Alt+Shift+↑ / Alt+Shift+↓', what: 'Previous / next conversation with unread messages' },
      { keys: 'Ctrl+K', what: 'Quick switcher: type a name, arrows, Enter' },
      { keys: 'Ctrl+N', what: 'New conversation' },
      { keys: '↑ / ↓, Home / End, Enter', what: 'In the conversation list: move, open' },
    ],
  },
  {
    group: 'Writing',
    keys: [
      { keys: 'Enter', what: 'Send' },
      { keys: 'Shift+Enter', what: 'New line' },
      { keys: '↑ in an empty composer', what: 'Edit your last message' },
      { keys: '@', what: 'Mention someone (arrows, Enter or Tab inserts)' },
      { keys: 'Ctrl+V', what: 'Paste an image or file (it waits above the composer)' },
    ],
  },
  {
    group: 'An image (Tab to it)',
    keys: [
      { keys: 'Enter', what: 'Open it in the viewer' },
      { keys: '+ / - / 0', what: 'In the viewer: zoom in / out / fit' },
      { keys: 'Escape', what: 'Close the viewer' },
    ],
  },
  {
    group: 'A focused message (Tab to it)',
    keys: [
      { keys: 'R', what: 'Reply' },
      { keys: '+', what: 'React' },
      { keys: 'E', what: 'Edit (yours)' },
      { keys: 'Delete', what: 'Delete (yours, asks first)' },
    ],
  },
  {
    group: 'App',
    keys: [
      { keys: 'Ctrl+F', what: 'Search messages' },
      { keys: 'Ctrl+,', what: 'Settings' },
      { keys: 'Ctrl+1 … Ctrl+9', what: 'With several accounts: the first … ninth account' },
      { keys: 'Ctrl+= / Ctrl+- / Ctrl+0', what: 'Bigger / smaller / normal text' },
      { keys: 'Ctrl+/', what: 'This list of shortcuts' },
      { keys: 'Escape', what: 'Close a dialog, menu or panel; back to the composer' },
    ],
  },
];
