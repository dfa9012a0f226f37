// Files on their way into a message: the chips above each conversation's composer (chosen in
// the OS's file dialog, dropped on the window, or pasted), the sentence when a file cannot go,
// sending them (through the outbox: pending at once), the uploads' live progress, and the
// image open in the viewer. Imports store.svelte.ts and actions.svelte.ts (never the other
// way round).
import { asIpcError, commands } from '../ipc/commands';
import type { Attachment, LocalFile, UploadProgress } from '../ipc/bindings';
import { app, showError } from './store.svelte';
import { announce } from './announce.svelte';
import { ui } from './actions.svelte';
import { mentionedIds, type Mentionable } from './mentions';
import { formatSize, pastedName } from './files';

/** Files one message takes (as the engine and the server's default). */
export const MAX_FILES = 10;

export const attach = $state({
  /** Per conversation: the files chosen for its next message, in order. */
  chips: {} as Record<string, LocalFile[]>,
  /** Per conversation: why the last file chosen could not go (a sentence), until dismissed. */
  refused: {} as Record<string, string>,
  /** The active account's uploads now: clientId → bytes sent of the entry's total. */
  progress: {} as Record<string, UploadProgress>,
  /** Files are being dragged over the window. */
  dropping: false,
  /** The image open in the viewer. */
  viewing: null as Attachment | null,
});

export const chipsOf = (cid: string) => attach.chips[cid] ?? [];

function refuse(cid: string, sentence: string) {
  attach.refused = { ...attach.refused, [cid]: sentence };
}

export function dismissRefusal(cid: string) {
  const { [cid]: _, ...rest } = attach.refused;
  attach.refused = rest;
}

/** Adds checked files as chips; those refused say why instead (all of them, one per line). */
function add(cid: string, files: LocalFile[]) {
  const have = chipsOf(cid);
  const ok = files.filter((f) => !f.refused && !have.some((h) => h.path === f.path));
  const refusals = files.filter((f) => f.refused).map((f) => f.refused as string);
  const room = MAX_FILES - have.length;
  if (ok.length > room) {
    refusals.push(`A message takes at most ${MAX_FILES} files: ${ok.length - Math.max(room, 0)} left out.`);
    commands.discardFiles(ok.slice(Math.max(room, 0)).map((f) => f.path)).catch(() => {});
  }
  attach.chips = { ...attach.chips, [cid]: [...have, ...ok.slice(0, Math.max(room, 0))] };
  if (refusals.length) refuse(cid, refusals.join('\n'));
  else dismissRefusal(cid);
}

/** Files by path (a drop on the window; the e2e tests too): checked, then chips. */
export async function attachPaths(paths: string[], cid: string | null = app.selected) {
  if (!cid || paths.length === 0) return;
  try {
    add(cid, await commands.localFiles(paths));
  } catch (e) {
    refuse(cid, asIpcError(e).message);
  }
}

/** The attach button: the OS's file dialog, then chips. */
export async function pickFiles(cid: string | null = app.selected) {
  if (!cid) return;
  try {
    const picked = await commands.pickFiles();
    if (picked.length) add(cid, picked);
  } catch (e) {
    refuse(cid, asIpcError(e).message);
  }
}

/**
 * Pasted files (a screenshot arrives as bytes, not a path): each checked against the server's
 * largest attachment before its bytes are read, then written where the engine takes it from.
 */
export async function attachPasted(files: File[], cid: string | null = app.selected, now: Date = new Date()) {
  if (!cid || files.length === 0) return;
  const max = await commands.largestAttachment().catch(() => null);
  const checked: LocalFile[] = [];
  for (const f of files) {
    const name = pastedName(f.name, f.type, now);
    if (max !== null && f.size > max) {
      checked.push({ path: '', name, size: f.size, pasted: true,
        refused: `${name} is ${formatSize(f.size)}; the largest file this server takes is ${formatSize(max)}.` });
      continue;
    }
    try {
      checked.push(await commands.pasteFile(name, new Uint8Array(await f.arrayBuffer())));
    } catch (e) {
      checked.push({ path: '', name, size: f.size, pasted: true, refused: asIpcError(e).message });
    }
  }
  add(cid, checked);
}

export function removeChip(cid: string, path: string) {
  const gone = chipsOf(cid).filter((f) => f.path === path);
  attach.chips = { ...attach.chips, [cid]: chipsOf(cid).filter((f) => f.path !== path) };
  commands.discardFiles(gone.filter((f) => f.pasted).map((f) => f.path)).catch(() => {});
}

/** Sends the chips with `text` (optional) to `cid`: pending at once. False (and why) if refused. */
export async function sendWithFiles(cid: string, text: string, tracked: Mentionable[]): Promise<boolean> {
  const files = chipsOf(cid);
  if (files.length === 0) return false;
  const reply = ui.replyTo?.conversationId === cid ? ui.replyTo.id : null;
  try {
    const entry = await commands.sendFiles(cid, text, files.map((f) => f.path), reply, mentionedIds(text, tracked));
    if (app.selected === cid) app.pending = [...app.pending, entry];
    attach.chips = { ...attach.chips, [cid]: [] };
    dismissRefusal(cid);
    ui.replyTo = null;
    await commands.setTyping(cid, false).catch(() => {});
    return true;
  } catch (e) {
    refuse(cid, asIpcError(e).message);
    return false;
  }
}

/** An attachment's bytes (or its thumbnail's) as an object URL; the caller revokes it. */
export async function objectUrl(id: string, thumbnail: boolean, type: string): Promise<string> {
  const bytes = await commands.attachmentBytes(id, thumbnail);
  return URL.createObjectURL(new Blob([bytes], { type }));
}

/**
 * Loads an attachment (or its thumbnail) as an object URL for an `<img>`: `shown` gets the
 * URL, `failed` the error (an `IpcError`'s code and words). Returns the cleanup for an
 * `$effect`: a load that ends after it is dropped, and the URL made is revoked.
 */
export function loadImage(
  id: string,
  thumbnail: boolean,
  type: string,
  shown: (url: string) => void,
  failed: (code: string, message: string) => void,
): () => void {
  let current = true;
  let made = '';
  objectUrl(id, thumbnail, type)
    .then((u) => {
      if (current) shown((made = u));
      else URL.revokeObjectURL(u);
    })
    .catch((e) => {
      if (!current) return;
      const err = asIpcError(e);
      failed(err.code, err.message);
    });
  return () => {
    current = false;
    if (made) URL.revokeObjectURL(made);
  };
}

/** A thumbnail's type: JPEG for JPEG images, PNG for the others (as the server makes them). */
export const thumbnailType = (contentType: string) => (contentType === 'image/jpeg' ? 'image/jpeg' : 'image/png');

/** Opens an attachment with the OS's application for its type. */
export async function openFile(a: Attachment) {
  try {
    await commands.openAttachment(a.id);
  } catch (e) {
    showError(e);
  }
}

/** Saves a copy where the user says (the OS's save dialog). */
export async function saveFile(a: Attachment) {
  try {
    const to = await commands.saveAttachment(a.id);
    if (to) announce(`Saved ${a.name} to ${to}`);
  } catch (e) {
    showError(e);
  }
}

// The same path as a drop, for the end-to-end tests: WebDriver cannot drop files on a window.
if (typeof window !== 'undefined') {
  (window as unknown as { tidingsAttachPaths?: typeof attachPaths }).tidingsAttachPaths = attachPaths;
}
