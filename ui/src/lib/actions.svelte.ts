// What the user does to messages and conversations beyond reading and sending: reply, react,
// edit, delete, start conversations, manage a group, the notification level, the profile.
// The state of those actions (what is being replied to or edited, which dialog is open)
// lives here; the conversation's data stays in store.svelte.ts, which this module imports
// (never the other way round).

import { tick } from 'svelte';
import { commands } from '../ipc/commands';
import type { CachedConversation, Message, NotifyLevel, User } from '../ipc/bindings';
import { app, openConversation, refresh, selectedConversation, showError, loadAround } from './store.svelte';
import { mentionedIds, type Mentionable } from './mentions';
import { usesMarkdown } from './markdown';

export const ui = $state({
  /** The message the composer replies to. */
  replyTo: null as Message | null,
  /** The id of the message being edited in place. */
  editing: null as string | null,
  /** The message whose deletion waits for a confirmation. */
  confirmDelete: null as Message | null,
  /** The message whose emoji picker is open. */
  reactingTo: null as string | null,
  /** The "New conversation" dialog. */
  newConversation: false,
  /** The group settings panel beside the timeline. */
  groupSettings: false,
  /** Your own profile, as the server has it (null until read). */
  me: null as User | null,
});

/** The people of the open conversation, as mention targets. */
export function participantsOf(c: CachedConversation | null): Mentionable[] {
  return (c?.participants ?? []).map((p) => ({ id: p.id, name: p.displayName }));
}

/** A display name for a user id in the open conversation (the id when not a participant). */
export function nameIn(c: CachedConversation | null, id: string): string {
  return c?.participants.find((p) => p.id === id)?.displayName ?? id;
}

/**
 * Sends the composer's text to `cid` (the composer's own conversation): MARKDOWN when it uses
 * the syntax, the reply and mentions kept.
 */
export async function sendComposed(text: string, tracked: Mentionable[], cid: string | null = app.selected) {
  if (!cid || !text.trim()) return false;
  const reply = ui.replyTo?.conversationId === cid ? ui.replyTo.id : null;
  try {
    const entry = await commands.sendMessage(cid, text, usesMarkdown(text) ? 'MARKDOWN' : 'TEXT', reply, mentionedIds(text, tracked));
    app.pending = [...app.pending, entry];
    ui.replyTo = null;
    await commands.setTyping(cid, false).catch(() => {});
    return true;
  } catch (e) {
    showError(e);
    return false;
  }
}

/** Puts a newer copy of a message (an action's answer) in place at once. */
function replaceMessage(m: Message) {
  app.messages = app.messages.map((x) => (x.id === m.id && x.rev <= m.rev ? m : x));
}

export async function saveEdit(m: Message, text: string, tracked: Mentionable[]) {
  if (!text.trim()) return false;
  if (text === m.content) {
    ui.editing = null;
    return true;
  }
  try {
    const kind = usesMarkdown(text) ? 'MARKDOWN' : 'TEXT';
    replaceMessage(await commands.editMessage(m.conversationId, m.id, text, kind, mentionedIds(text, tracked)));
    ui.editing = null;
    return true;
  } catch (e) {
    showError(e);
    return false;
  }
}

export async function confirmDeletion() {
  const m = ui.confirmDelete;
  ui.confirmDelete = null;
  if (!m) return;
  try {
    replaceMessage(await commands.deleteMessage(m.conversationId, m.id));
  } catch (e) {
    showError(e);
  }
}

/** Turns my reaction with `emoji` on, or off when I already reacted with it. */
export async function toggleReaction(m: Message, emoji: string) {
  const me = app.session?.user ?? '';
  const on = !(m.reactions ?? []).some((r) => r.emoji === emoji && r.users.includes(me));
  ui.reactingTo = null;
  try {
    replaceMessage(await commands.react(m.conversationId, m.id, emoji, on));
  } catch (e) {
    showError(e);
  }
}

export function startReply(m: Message) {
  ui.editing = null;
  ui.replyTo = m;
  focusComposer();
}

export function focusComposer() {
  tick().then(() => document.querySelector<HTMLTextAreaElement>('[data-testid="composer"]')?.focus());
}

/** Shows a message of the open conversation, loading the history around it if needed. */
export async function jumpTo(seq: number) {
  if (!app.messages.some((m) => m.seq === seq)) {
    await loadAround(seq);
  }
  app.highlight = seq;
  await tick();
  document.querySelector(`[data-seq="${seq}"]`)?.scrollIntoView({ block: 'center' });
  // The original flashes, then reads as any other message.
  setTimeout(() => {
    if (app.highlight === seq) app.highlight = null;
  }, 4000);
}

/** Opens the direct conversation with `user` (the one that exists, or a new one). */
export async function startDirect(user: string) {
  const me = app.session?.user ?? '';
  const existing = app.conversations.find(
    (c) => c.kind === 'direct' && !c.left && c.participants.some((p) => p.id === user) && c.participants.every((p) => p.id === user || p.id === me),
  );
  try {
    const id = existing?.id ?? (await commands.createConversation(null, [user], false)).id;
    ui.newConversation = false;
    await refresh();
    await openConversation(id);
    focusComposer();
  } catch (e) {
    showError(e);
  }
}

export async function startGroup(title: string, users: string[]) {
  try {
    const c = await commands.createConversation(title.trim(), users, true);
    ui.newConversation = false;
    await refresh();
    await openConversation(c.id);
    focusComposer();
  } catch (e) {
    showError(e);
  }
}

/** Runs a group change, then reloads the list (the answer is already in the cache). */
async function groupChange(f: () => Promise<void>) {
  try {
    await f();
    await refresh();
    return true;
  } catch (e) {
    showError(e);
    return false;
  }
}

export const renameGroup = (cid: string, title: string) => groupChange(() => commands.renameConversation(cid, title.trim()));
export const addPeople = (cid: string, users: string[]) => groupChange(() => commands.addParticipants(cid, users));
export const removePerson = (cid: string, user: string) => groupChange(() => commands.removeParticipant(cid, user));
export async function leaveGroup(cid: string) {
  if (await groupChange(() => commands.leaveConversation(cid))) ui.groupSettings = false;
}

export async function setNotifyLevel(level: NotifyLevel) {
  const c = selectedConversation();
  if (!c) return;
  try {
    await commands.setNotifyLevel(c.id, level);
    c.notifyLevel = level;
  } catch (e) {
    showError(e);
  }
}

export async function loadMe() {
  try {
    ui.me = await commands.me();
  } catch {
    // Offline: the settings show the id until the profile can be read.
  }
}

export async function saveDisplayName(name: string) {
  try {
    ui.me = await commands.setDisplayName(name.trim());
    await refresh();
    return true;
  } catch (e) {
    showError(e);
    return false;
  }
}

/**
 * Why the user is no longer in a conversation ("You left", "You were removed by Alice"): from
 * the cache (what the engine saw happen), else from the timeline's system entries when it has
 * them.
 */
export function leftReason(c: CachedConversation, messages: Message[], me: string): string {
  if (c.removedBy) return `You were removed by ${nameIn(c, c.removedBy)}`;
  if (c.leftThemselves) return 'You left';
  for (let i = messages.length - 1; i >= 0; i--) {
    const s = messages[i].system;
    if (!s) continue;
    if (s.action === 'left' && messages[i].senderId === me) return 'You left';
    if (s.action === 'removed' && (s.users ?? []).includes(me)) return `You were removed by ${nameIn(c, messages[i].senderId)}`;
    if (s.action === 'added' && (s.users ?? []).includes(me)) break;
  }
  return 'You are no longer in this conversation';
}
