// Where the user was and what they were writing, kept on this device (in the account's
// cache) so that switching conversations, hiding to the tray (which releases the window) and
// a restart lose neither: each conversation's draft and each one's scroll position. The
// store reads these when it opens a conversation; this module imports nothing of the UI's
// own state (the store imports it, never the other way round).
import { commands } from '../ipc/commands';
import type { ScrollAnchor } from '../ipc/bindings';
import { DraftKeeper, type DraftValue } from './drafts';

const shownDrafts: Record<string, DraftValue> = $state({});

/** Each conversation's draft: shown in the list at once, saved a moment after typing stops. */
export const drafts = new DraftKeeper(
  (conversation, text, replyTo) => commands.saveDraft(conversation, text, replyTo),
  shownDrafts,
  400,
  undefined,
  // A draft that could not be saved stays on screen; the next keystroke tries again.
  () => {},
);

/** Reads the drafts kept in the cache (after sign-in and at start). */
export async function loadDrafts() {
  try {
    drafts.load(await commands.drafts());
  } catch {
    // No engine yet (signed out): nothing to show.
  }
}

/** conversation → where it was scrolled to this session (`null`: at its newest message). */
const anchors = new Map<string, ScrollAnchor | null>();
const persistTimers = new Map<string, ReturnType<typeof setTimeout>>();

/** Where `conversation` was left: this session's memory, else what the cache kept. */
export async function scrollAnchorOf(conversation: string): Promise<ScrollAnchor | null> {
  if (anchors.has(conversation)) return anchors.get(conversation) ?? null;
  try {
    return await commands.scrollAnchor(conversation);
  } catch {
    return null;
  }
}

/** The user scrolled `conversation` to `anchor`: remembered now, written to the cache after a pause. */
export function rememberScroll(conversation: string, anchor: ScrollAnchor | null) {
  anchors.set(conversation, anchor);
  clearTimeout(persistTimers.get(conversation));
  persistTimers.set(
    conversation,
    setTimeout(() => {
      persistTimers.delete(conversation);
      commands.setScrollAnchor(conversation, anchor).catch(() => {});
    }, 300),
  );
}

/** Writes at once what waits (the window may be about to go): drafts and scroll positions. */
export function flushPlace() {
  drafts.flush();
  for (const [c, t] of persistTimers) {
    clearTimeout(t);
    commands.setScrollAnchor(c, anchors.get(c) ?? null).catch(() => {});
  }
  persistTimers.clear();
}

/**
 * Forgets this session's scroll positions and drafts on screen (another account is shown; its
 * own come from its cache). Call `flushPlace` first: what waits is written to the account left.
 */
export function forgetPlaces() {
  anchors.clear();
  for (const k of Object.keys(shownDrafts)) delete shownDrafts[k];
}
