// The UI's state, filled from the backend and refreshed when it says the cache changed.
import { tick } from 'svelte';
import { asIpcError, commands, useAccount, type IpcError } from '../ipc/commands';
import type {
  AccountSummary,
  CachedConversation,
  EngineState,
  Message,
  Notification,
  OutboxEntry,
  SearchHit,
  SessionInfo,
  Settings,
  UpdateInfo,
  UpdateProgress,
} from '../ipc/bindings';
import { firstUnread } from './reading';
import { loadDrafts, scrollAnchorOf } from './place.svelte';

export type Panel = 'chat' | 'notifications' | 'search' | 'settings';

const PAGE = 50;
/** At most this many messages after an opening point are loaded with it (more: it opens nearer the newest). */
const MAX_AFTER = 2000;

/**
 * Where the timeline goes once an opened conversation is loaded: the "New messages" line,
 * the place it was left, or its newest message.
 */
export type ScrollTarget =
  | { kind: 'unread'; seq: number }
  | { kind: 'anchor'; seq: number; offset: number }
  | { kind: 'newest' };

export const app = $state({
  ready: false,
  /** The active account (the one the window shows). */
  session: null as SessionInfo | null,
  /** Every account signed in, with its unread count and state (the switcher). */
  accounts: [] as AccountSummary[],
  /** The sign-in form is open to add an account (the others stay signed in). */
  adding: false,
  defaultServer: '' as string,
  engine: { state: 'connecting' } as EngineState,
  conversations: [] as CachedConversation[],
  selected: null as string | null,
  messages: [] as Message[],
  pending: [] as OutboxEntry[],
  /** Originals of replies on screen that are not themselves loaded (for the quotes). */
  quoted: [] as Message[],
  hasOlder: false,
  loadingOlder: false,
  /** conversation → user → expiry (ms) */
  typing: {} as Record<string, Record<string, number>>,
  notifications: [] as Notification[],
  /** Unread notifications in the cache: the badge, from the first paint on. */
  unreadNotifications: 0,
  /** The notification list has older entries to load. */
  olderNotifications: false,
  settings: null as Settings | null,
  panel: 'chat' as Panel,
  searchQuery: '',
  searchHits: [] as SearchHit[],
  highlight: null as number | null,
  /** The first unread message when the open conversation was opened (the "New messages" line). */
  unreadFrom: null as number | null,
  /** Where the timeline scrolls once loaded (ConversationView applies it, then clears it). */
  scrollTarget: null as ScrollTarget | null,
  error: null as IpcError | null,
  switcherOpen: false,
  update: {
    /** idle | checking | available | none | downloading | verified | failed */
    stage: 'idle' as string,
    info: null as UpdateInfo | null,
    progress: null as UpdateProgress | null,
    message: '' as string,
  },
});

/** The updater's reason as the status line shows it: a sentence, its first letter capital. */
function updateReason(e: unknown): string {
  const m = asIpcError(e).message;
  return m.charAt(0).toUpperCase() + m.slice(1);
}

/** Checks for an update; `quiet` (at start) shows nothing unless one is found. */
export async function checkUpdate(quiet = false) {
  if (!quiet) app.update.stage = 'checking';
  app.update.message = '';
  try {
    const info = await commands.checkUpdate();
    app.update.info = info;
    app.update.stage = info ? 'available' : quiet ? 'idle' : 'none';
  } catch (e) {
    if (quiet) {
      app.update.stage = 'idle';
    } else {
      app.update.stage = 'failed';
      app.update.message = updateReason(e);
    }
  }
}

export async function downloadUpdate() {
  app.update.stage = 'downloading';
  app.update.progress = { stage: 'downloading', done: 0, total: null };
  try {
    await commands.downloadUpdate();
    app.update.stage = 'verified';
  } catch (e) {
    app.update.stage = 'failed';
    app.update.message = updateReason(e);
  }
}

export function showError(e: unknown) {
  app.error = asIpcError(e);
}

export const unreadTotal = () => app.conversations.filter((c) => c.notifyLevel !== 'none' && !c.left).reduce((n, c) => n + c.unreadCount, 0);

export const selectedConversation = () => app.conversations.find((c) => c.id === app.selected) ?? null;

export async function start() {
  const s = await commands.session();
  // A clicked notification's account, else the one the window showed.
  const asked = s.open?.account ?? s.openNotifications?.account;
  app.session = s.accounts.find((a) => a.id === asked) ?? s.session;
  useAccount(app.session?.id ?? null);
  if (app.session) await commands.setActiveAccount(app.session.id).catch(() => {});
  app.defaultServer = s.server ?? '';
  app.ready = true;
  if (app.session) {
    await afterSignIn();
    // A notification's conversation, else the one that was open when the window went.
    const open = s.open?.conversation ?? (await commands.lastOpen().catch(() => null));
    if (open && app.conversations.some((c) => c.id === open)) await openConversation(open);
    // A clicked server notification (while the window was in the tray): the list.
    if (s.openNotifications) await showPanel('notifications');
    await reportFirstPaint();
  }
}

/**
 * Startup telemetry. A saved session opens on the conversation list and the conversation that
 * was open (or the one a notification asked for), so the first paint is that, read from the cache. Once
 * Svelte has applied the state (`tick`) and the browser has painted the frame (a
 * `requestAnimationFrame` callback runs just before the paint; the task queued from it runs
 * after), the backend is told; it logs the time since the process started, once per process.
 * A sign-in from the form is not a start from the cache and does not report.
 */
async function reportFirstPaint() {
  await tick();
  await new Promise<void>((painted) => requestAnimationFrame(() => setTimeout(painted, 0)));
  // Telemetry never bothers the user: a failure here is not shown.
  await commands
    .reportFirstPaint({ conversations: app.conversations.length, messages: app.messages.length })
    .catch(() => {});
}

/** Engine states the backend pushed ('engine-state' events): it pushes every change. */
let pushedStates = 0;

export function enginePushed(s: EngineState) {
  pushedStates += 1;
  app.engine = s;
}

export async function afterSignIn() {
  const pushed = pushedStates;
  const engine = await commands.engineState();
  // A state pushed while the command was on its way is at least as new as the one it read
  // (a newer one would be pushed after it): keep it, or the banner could stay "Connecting".
  if (pushedStates === pushed) app.engine = engine;
  app.settings = await commands.getSettings();
  await loadDrafts();
  await refresh();
}

/** Reloads the switcher's accounts (their unread counts and states). */
export async function refreshAccounts() {
  try {
    app.accounts = await commands.accounts();
  } catch (e) {
    showError(e);
  }
}

/** Reloads what is on screen from the cache. */
export async function refresh() {
  if (!app.session) return;
  try {
    refreshAccounts();
    const [conversations, unreadNotes] = await Promise.all([commands.conversations(), commands.unreadNotifications()]);
    app.conversations = conversations;
    app.unreadNotifications = unreadNotes;
    if (app.selected) await reloadConversation();
    if (app.panel === 'notifications') await loadNotifications();
  } catch (e) {
    showError(e);
  }
}

async function reloadConversation() {
  const cid = app.selected;
  if (!cid) return;
  // Keep the pages already scrolled back through.
  const oldest = app.messages[0]?.seq;
  const page = await commands.history(cid, null, PAGE);
  let messages = page.messages;
  if (oldest !== undefined && messages.length > 0 && messages[0].seq > oldest) {
    const older = app.messages.filter((m) => m.seq < messages[0].seq);
    messages = [...older, ...messages];
  } else if (messages.length === PAGE) {
    app.hasOlder = true;
  }
  if (app.selected !== cid) return;
  app.messages = messages;
  app.pending = page.pending;
  app.quoted = page.quoted;
  if (oldest === undefined) app.hasOlder = page.messages.length === PAGE;
}

/**
 * Moves the open conversation's read marker to `seq`: the timeline calls this for what the
 * user has actually seen (see reading.ts), never for what merely loaded.
 */
export async function markReadUpTo(cid: string, seq: number) {
  const c = app.conversations.find((x) => x.id === cid);
  if (!c || c.readSeq >= seq) return;
  try {
    await commands.markRead(cid, seq);
  } catch (e) {
    showError(e);
  }
}

export async function openConversation(cid: string, highlight: number | null = null) {
  app.panel = 'chat';
  app.selected = cid;
  app.messages = [];
  app.pending = [];
  app.quoted = [];
  app.hasOlder = false;
  app.highlight = highlight;
  app.scrollTarget = null;
  const c = app.conversations.find((x) => x.id === cid);
  // Taken once, at opening: the line stays where it was while the user reads.
  app.unreadFrom = c && !c.left ? firstUnread(c.lastSeq, c.readSeq) : null;
  commands.setLastOpen(cid).catch(() => {});
  try {
    await commands.focusConversation(cid);
    if (highlight !== null) {
      await loadAround(highlight);
      return;
    }
    // At the first unread message; else where it was left; else at the newest.
    const anchor = app.unreadFrom === null ? await scrollAnchorOf(cid) : null;
    if (app.selected !== cid) return;
    if (app.unreadFrom !== null) {
      const seq = app.unreadFrom;
      await loadAround(seq, { kind: 'unread', seq });
    } else if (anchor) {
      await loadAround(anchor.seq, { kind: 'anchor', ...anchor });
    } else {
      await reloadConversation();
      if (app.selected === cid) app.scrollTarget = { kind: 'newest' };
    }
  } catch (e) {
    showError(e);
  }
}

/**
 * Loads the open conversation from a page around `seq` down to the newest message, with no
 * hole between (pages of 500 back from the newest). More than MAX_AFTER messages after `seq`:
 * it starts MAX_AFTER before the newest instead. `target` is where the timeline then scrolls.
 */
export async function loadAround(seq: number, target: ScrollTarget | null = null) {
  const cid = app.selected;
  if (!cid) return;
  const newest = await commands.history(cid, null, 1);
  const newestSeq = newest.messages.at(-1)?.seq ?? 0;
  const from = Math.max(seq, newestSeq - MAX_AFTER + 1, 1);
  const page = await commands.history(cid, from + Math.floor(PAGE / 2), PAGE);
  let messages = page.messages;
  let quoted = page.quoted;
  let pending = newest.pending;
  const last = messages.at(-1)?.seq ?? 0;
  // The newest pages, back to the first page's end.
  const tail: typeof messages = [];
  let before: number | null = null;
  while (newestSeq > last) {
    const rest = await commands.history(cid, before, 500);
    const fresh = rest.messages.filter((m) => m.seq > last);
    tail.unshift(...fresh);
    quoted = [...quoted, ...rest.quoted];
    if (before === null) pending = rest.pending;
    if (fresh.length < rest.messages.length || rest.messages.length < 500) break;
    before = rest.messages[0].seq;
  }
  messages = [...messages, ...tail];
  if (app.selected !== cid) return;
  app.messages = messages;
  app.quoted = quoted;
  app.pending = pending;
  app.hasOlder = page.messages.length === PAGE;
  if (target?.kind === 'unread' && from > seq) {
    // Too many unread to load them all: the line goes on the first one loaded.
    app.unreadFrom = messages.find((m) => m.seq >= from)?.seq ?? null;
    target = app.unreadFrom === null ? { kind: 'newest' } : { kind: 'unread', seq: app.unreadFrom };
  }
  app.scrollTarget = target;
}

export async function loadOlder() {
  const cid = app.selected;
  const first = app.messages[0];
  if (!cid || !first || app.loadingOlder || !app.hasOlder) return;
  app.loadingOlder = true;
  try {
    const page = await commands.history(cid, first.seq, PAGE);
    if (app.selected === cid) {
      app.messages = [...page.messages, ...app.messages];
      app.quoted = [...app.quoted, ...page.quoted];
      app.hasOlder = page.messages.length === PAGE;
    }
  } catch (e) {
    showError(e);
  } finally {
    app.loadingOlder = false;
  }
}

export function typingIn(cid: string, me: string, now: number = Date.now()): string[] {
  const users = app.typing[cid] ?? {};
  return Object.entries(users)
    .filter(([u, until]) => u !== me && until > now)
    .map(([u]) => u);
}

export async function showPanel(p: Panel) {
  app.panel = p;
  if (p === 'notifications') {
    try {
      await loadNotifications();
    } catch (e) {
      showError(e);
    }
  }
  if (p !== 'chat') await commands.focusConversation(null).catch(() => {});
  else if (app.selected) await commands.focusConversation(app.selected).catch(() => {});
}

export async function runSearch(q: string) {
  app.searchQuery = q;
  if (!q.trim()) {
    app.searchHits = [];
    return;
  }
  try {
    app.searchHits = await commands.search(q, 50);
  } catch (e) {
    showError(e);
  }
}

export async function saveSettings(s: Settings) {
  try {
    app.settings = await commands.setSettings(s);
  } catch (e) {
    showError(e);
  }
}

/** Notifications per page of the list. */
export const NOTE_PAGE = 50;

/** (Re)loads the notification list from the newest, keeping as many as were shown. */
export async function loadNotifications() {
  const limit = Math.max(NOTE_PAGE, app.notifications.length);
  // One more than shown: whether there are older ones is known, not guessed from a full page.
  const list = await commands.notifications(null, limit + 1);
  app.notifications = list.slice(0, limit);
  app.olderNotifications = list.length > limit;
  app.unreadNotifications = await commands.unreadNotifications();
}

let loadingNotes = false;

/** Appends the next page of older notifications (the server's, past what the cache holds). */
export async function loadOlderNotifications() {
  const last = app.notifications[app.notifications.length - 1];
  if (!last || loadingNotes || !app.olderNotifications) return;
  loadingNotes = true;
  try {
    const page = await commands.notifications(last.id, NOTE_PAGE + 1);
    const have = new Set(app.notifications.map((n) => n.id));
    app.notifications = [...app.notifications, ...page.slice(0, NOTE_PAGE).filter((n) => !have.has(n.id))];
    app.olderNotifications = page.length > NOTE_PAGE;
  } catch (e) {
    showError(e);
  } finally {
    loadingNotes = false;
  }
}

/** Marks one notification read without leaving the list. */
export async function markNotificationRead(id: string) {
  try {
    await commands.markNotificationRead(id);
    app.notifications = app.notifications.map((n) => (n.id === id ? { ...n, isRead: true } : n));
    app.unreadNotifications = await commands.unreadNotifications();
  } catch (e) {
    showError(e);
  }
}

/** Marks every notification read, here and on the server (one request). */
export async function markAllNotificationsRead() {
  try {
    app.unreadNotifications = await commands.markAllNotificationsRead();
    app.notifications = app.notifications.map((n) => ({ ...n, isRead: true }));
  } catch (e) {
    showError(e);
  }
}
