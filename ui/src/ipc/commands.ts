// The only place that calls the Rust backend. Every function is one Tauri command with the
// types generated from Rust (bindings.ts); errors arrive as IpcError {code, message}.
import { invoke } from '@tauri-apps/api/core';
import { openUrl } from '@tauri-apps/plugin-opener';
import type {
  CachedConversation,
  ContentType,
  Draft,
  EngineState,
  FirstPaint,
  HistoryPage,
  IpcCode,
  IpcError,
  Message,
  Notification,
  NotifyLevel,
  OutboxEntry,
  PeoplePage,
  ScrollAnchor,
  SearchHit,
  SessionInfo,
  Settings,
  Startup,
  UpdateInfo,
  User,
} from './bindings';

export type { IpcCode, IpcError };

/** Every code the backend sends (a code added in Rust fails the type check until listed). */
const CODES: Record<IpcCode, true> = {
  not_signed_in: true,
  unreachable: true,
  refused: true,
  invalid: true,
  io: true,
  failed: true,
  update: true,
};

/** Whether `code` is one the backend sends. */
export function isIpcCode(code: unknown): code is IpcCode {
  return typeof code === 'string' && Object.hasOwn(CODES, code);
}

/** Turns whatever a command threw into an IpcError (`failed` when it is not one). */
export function asIpcError(e: unknown): IpcError {
  if (e && typeof e === 'object' && 'message' in e && 'code' in e && isIpcCode(e.code)) {
    return { code: e.code, message: String(e.message) };
  }
  return { code: 'failed', message: String(e) };
}

export const commands = {
  session: () => invoke<Startup>('session'),
  signIn: (server: string, username: string, password: string, register: boolean) =>
    invoke<SessionInfo>('sign_in', { server, username, password, register }),
  signOut: () => invoke<void>('sign_out'),
  engineState: () => invoke<EngineState>('engine_state'),
  conversations: () => invoke<CachedConversation[]>('conversations'),
  history: (conversation: string, before: number | null, limit: number) =>
    invoke<HistoryPage>('history', { conversation, before, limit }),
  /** Queues a message in the outbox (shown as pending at once). */
  sendMessage: (
    conversation: string,
    text: string,
    contentType: ContentType,
    replyTo: string | null,
    mentions: string[],
  ) => invoke<OutboxEntry>('send_message', { conversation, text, contentType, replyTo, mentions }),
  /** A page of the conversation centred on `seq` (to jump to a quoted message). */
  historyAround: (conversation: string, seq: number, limit: number) =>
    invoke<HistoryPage>('history_around', { conversation, seq, limit }),
  editMessage: (conversation: string, message: string, text: string, contentType: ContentType, mentions: string[]) =>
    invoke<Message>('edit_message', { conversation, message, text, contentType, mentions }),
  deleteMessage: (conversation: string, message: string) => invoke<Message>('delete_message', { conversation, message }),
  react: (conversation: string, message: string, emoji: string, on: boolean) =>
    invoke<Message>('react', { conversation, message, emoji, on }),
  /** The directory: people whose id or a word of whose name starts with `query`. */
  searchUsers: (query: string, limit: number, cursor: string | null) =>
    invoke<PeoplePage>('search_users', { query, limit, cursor }),
  /** Your own profile, as the server has it. */
  me: () => invoke<User>('me'),
  setDisplayName: (name: string) => invoke<User>('set_display_name', { name }),
  /** Starts a direct conversation (the existing one with that person if there is one) or a group. */
  createConversation: (title: string | null, participants: string[], group: boolean) =>
    invoke<CachedConversation>('create_conversation', { title, participants, group }),
  renameConversation: (conversation: string, title: string) =>
    invoke<void>('rename_conversation', { conversation, title }),
  addParticipants: (conversation: string, users: string[]) =>
    invoke<void>('add_participants', { conversation, users }),
  removeParticipant: (conversation: string, user: string) =>
    invoke<void>('remove_participant', { conversation, user }),
  leaveConversation: (conversation: string) => invoke<void>('leave_conversation', { conversation }),
  retryMessage: (clientId: string) => invoke<boolean>('retry_message', { clientId }),
  markRead: (conversation: string, upTo: number) => invoke<boolean>('mark_read', { conversation, upTo }),
  setTyping: (conversation: string, typing: boolean) => invoke<void>('set_typing', { conversation, typing }),
  focusConversation: (conversation: string | null) => invoke<void>('focus_conversation', { conversation }),
  /** Newest first: those older than the one with id `before`, or the newest. */
  notifications: (before: string | null, limit: number) =>
    invoke<Notification[]>('notifications', { before, limit }),
  /** Unread notifications in the cache (the badge). */
  unreadNotifications: () => invoke<number>('unread_notifications'),
  markNotificationRead: (id: string) => invoke<boolean>('mark_notification_read', { id }),
  /** Marks every notification read, here and on the server; answers the unread count after. */
  markAllNotificationsRead: () => invoke<number>('mark_all_notifications_read'),
  search: (query: string, limit: number) => invoke<SearchHit[]>('search', { query, limit }),
  /** Which messages of this conversation notify: all, only those mentioning you, none. */
  setNotifyLevel: (conversation: string, level: NotifyLevel) =>
    invoke<void>('set_notify_level', { conversation, level }),
  getSettings: () => invoke<Settings>('get_settings'),
  /** Reconnects at once ("Reconnect now", or the OS says the network is back). */
  reconnectNow: () => invoke<void>('reconnect_now'),
  setSettings: (settings: Settings) => invoke<Settings>('set_settings', { settings }),
  /** Asks the update server; `null` when this is the newest version. */
  checkUpdate: () => invoke<UpdateInfo | null>('check_update'),
  /** Downloads the update found by the last check and verifies its signature. */
  downloadUpdate: () => invoke<void>('download_update'),
  /** Installs the verified update and restarts the app. */
  installUpdate: () => invoke<void>('install_update'),
  /** Startup telemetry: the first signed-in view is on screen (logged once per process). */
  reportFirstPaint: (paint: FirstPaint) => invoke<void>('report_first_paint', { paint }),
  /** Every conversation's draft (what is typed and not sent), newest first. */
  drafts: () => invoke<Draft[]>('drafts'),
  /** Keeps a conversation's draft (blank text and no reply removes it). */
  saveDraft: (conversation: string, text: string, replyTo: string | null) =>
    invoke<boolean>('save_draft', { conversation, text, replyTo }),
  /** The conversation that was open when the window was last used. */
  lastOpen: () => invoke<string | null>('last_open'),
  setLastOpen: (conversation: string | null) => invoke<void>('set_last_open', { conversation }),
  /** Where a conversation was scrolled to (`null`: at its newest message). */
  scrollAnchor: (conversation: string) => invoke<ScrollAnchor | null>('scroll_anchor', { conversation }),
  setScrollAnchor: (conversation: string, anchor: ScrollAnchor | null) =>
    invoke<void>('set_scroll_anchor', { conversation, anchor }),
  /** Opens a web address in the default browser (never inside the app). */
  openExternal: (url: string) => openUrl(url),
};
