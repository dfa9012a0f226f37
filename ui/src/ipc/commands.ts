// The only place that calls the Rust backend. Every function is one Tauri command with the
// types generated from Rust (bindings.ts); errors arrive as IpcError {code, message}.
// Commands about an account's data name the account the window shows (`useAccount`): the
// arguments are built when the call is made, so a call started before a switch stays with
// its own account.
import { invoke } from '@tauri-apps/api/core';
import { openUrl } from '@tauri-apps/plugin-opener';
import type {
  AccountSummary,
  CachedConversation,
  CheckReport,
  ContentType,
  Draft,
  EngineState,
  FirstPaint,
  HistoryPage,
  IpcCode,
  IpcError,
  LocalFile,
  Message,
  Notification,
  NotifyLevel,
  OutboxEntry,
  PeoplePage,
  ProfileForm,
  SavedProfile,
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

/** The account the window shows: every account command names it. */
let account: string | null = null;

/** The window shows `id` now (commands act on it from here on). */
export function useAccount(id: string | null) {
  account = id;
}

export function activeAccount(): string | null {
  return account;
}

/** Invokes a command of the active account. */
function call<T>(cmd: string, args: Record<string, unknown> = {}): Promise<T> {
  return invoke<T>(cmd, { account, ...args });
}

export const commands = {
  session: () => invoke<Startup>('session'),
  /** Signs in to one more account (the others stay signed in). */
  signIn: (server: string, username: string, password: string, register: boolean) =>
    invoke<SessionInfo>('sign_in', { server, username, password, register }),
  /** Signs the active account out (the others stay). */
  signOut: () => call<void>('sign_out'),
  /** Every account signed in, with its unread count and state (the switcher). */
  accounts: () => invoke<AccountSummary[]>('accounts'),
  setActiveAccount: (id: string) => invoke<void>('set_active_account', { account: id }),
  engineState: () => call<EngineState>('engine_state'),
  conversations: () => call<CachedConversation[]>('conversations'),
  history: (conversation: string, before: number | null, limit: number) =>
    call<HistoryPage>('history', { conversation, before, limit }),
  /** Queues a message in the outbox (shown as pending at once). */
  sendMessage: (
    conversation: string,
    text: string,
    contentType: ContentType,
    replyTo: string | null,
    mentions: string[],
  ) => call<OutboxEntry>('send_message', { conversation, text, contentType, replyTo, mentions }),
  /** A page of the conversation centred on `seq` (to jump to a quoted message). */
  historyAround: (conversation: string, seq: number, limit: number) =>
    call<HistoryPage>('history_around', { conversation, seq, limit }),
  editMessage: (conversation: string, message: string, text: string, contentType: ContentType, mentions: string[]) =>
    call<Message>('edit_message', { conversation, message, text, contentType, mentions }),
  deleteMessage: (conversation: string, message: string) => call<Message>('delete_message', { conversation, message }),
  react: (conversation: string, message: string, emoji: string, on: boolean) =>
    call<Message>('react', { conversation, message, emoji, on }),
  /** The directory: people whose id or a word of whose name starts with `query`. */
  searchUsers: (query: string, limit: number, cursor: string | null) =>
    call<PeoplePage>('search_users', { query, limit, cursor }),
  /** Your own profile, as the server has it. */
  me: () => call<User>('me'),
  setDisplayName: (name: string) => call<User>('set_display_name', { name }),
  /** Starts a direct conversation (the existing one with that person if there is one) or a group. */
  createConversation: (title: string | null, participants: string[], group: boolean) =>
    call<CachedConversation>('create_conversation', { title, participants, group }),
  renameConversation: (conversation: string, title: string) =>
    call<void>('rename_conversation', { conversation, title }),
  addParticipants: (conversation: string, users: string[]) =>
    call<void>('add_participants', { conversation, users }),
  removeParticipant: (conversation: string, user: string) =>
    call<void>('remove_participant', { conversation, user }),
  leaveConversation: (conversation: string) => call<void>('leave_conversation', { conversation }),
  retryMessage: (clientId: string) => call<boolean>('retry_message', { clientId }),
  markRead: (conversation: string, upTo: number) => call<boolean>('mark_read', { conversation, upTo }),
  setTyping: (conversation: string, typing: boolean) => call<void>('set_typing', { conversation, typing }),
  focusConversation: (conversation: string | null) => call<void>('focus_conversation', { conversation }),
  /** Newest first: those older than the one with id `before`, or the newest. */
  notifications: (before: string | null, limit: number) =>
    call<Notification[]>('notifications', { before, limit }),
  /** Unread notifications in the cache (the badge). */
  unreadNotifications: () => call<number>('unread_notifications'),
  markNotificationRead: (id: string) => call<boolean>('mark_notification_read', { id }),
  /** Marks every notification read, here and on the server; answers the unread count after. */
  markAllNotificationsRead: () => call<number>('mark_all_notifications_read'),
  search: (query: string, limit: number) => call<SearchHit[]>('search', { query, limit }),
  /** Which messages of this conversation notify: all, only those mentioning you, none. */
  setNotifyLevel: (conversation: string, level: NotifyLevel) =>
    call<void>('set_notify_level', { conversation, level }),
  getSettings: () => call<Settings>('get_settings'),
  /** Reconnects at once ("Reconnect now", or the OS says the network is back). */
  reconnectNow: () => call<void>('reconnect_now'),
  /** Reconnects every account at once (the OS says the network is back). */
  reconnectEvery: () => invoke<void>('reconnect_now', { every: true }),
  setSettings: (settings: Settings) => call<Settings>('set_settings', { settings }),
  /** Asks the update server; `null` when this is the newest version. */
  checkUpdate: () => invoke<UpdateInfo | null>('check_update'),
  /** Downloads the update found by the last check and verifies its signature. */
  downloadUpdate: () => invoke<void>('download_update'),
  /** Installs the verified update and restarts the app. */
  installUpdate: () => invoke<void>('install_update'),
  /** Startup telemetry: the first signed-in view is on screen (logged once per process). */
  reportFirstPaint: (paint: FirstPaint) => invoke<void>('report_first_paint', { paint }),
  /** Every conversation's draft (what is typed and not sent), newest first. */
  drafts: () => call<Draft[]>('drafts'),
  /** Keeps a conversation's draft (blank text and no reply removes it). */
  saveDraft: (conversation: string, text: string, replyTo: string | null) =>
    call<boolean>('save_draft', { conversation, text, replyTo }),
  /** The conversation that was open when the window was last used. */
  lastOpen: () => call<string | null>('last_open'),
  setLastOpen: (conversation: string | null) => call<void>('set_last_open', { conversation }),
  /** Where a conversation was scrolled to (`null`: at its newest message). */
  scrollAnchor: (conversation: string) => call<ScrollAnchor | null>('scroll_anchor', { conversation }),
  setScrollAnchor: (conversation: string, anchor: ScrollAnchor | null) =>
    call<void>('set_scroll_anchor', { conversation, anchor }),
  /** Files by path (dropped on the window): each checked as sending will check it. */
  localFiles: (paths: string[]) => call<LocalFile[]>('local_files', { paths }),
  /** The OS's file dialog (several files); none when cancelled. */
  pickFiles: () => call<LocalFile[]>('pick_files'),
  /** A pasted file's bytes, written where the engine takes it from (refused over the server's limit). */
  pasteFile: (name: string, bytes: Uint8Array) =>
    invoke<LocalFile>('paste_file', bytes, {
      headers: { 'tidings-name': encodeURIComponent(name), 'tidings-account': encodeURIComponent(account ?? '') },
    }),
  /** Chips removed: their pasted files are deleted (other files are left alone). */
  discardFiles: (paths: string[]) => invoke<void>('discard_files', { paths }),
  /** The server's largest attachment in bytes, as last known (`null`: never known). */
  largestAttachment: () => call<number | null>('largest_attachment'),
  /** Queues a message with files (and maybe text); shown as pending at once. */
  sendFiles: (conversation: string, text: string, paths: string[], replyTo: string | null, mentions: string[]) =>
    call<OutboxEntry>('send_files', { conversation, text, paths, replyTo, mentions }),
  /** Cancels a message not sent yet (its upload stops); `false` when it is gone already. */
  cancelMessage: (clientId: string) => call<boolean>('cancel_message', { clientId }),
  /** An attachment's bytes (or its thumbnail's), from the download cache (downloaded first if needed). */
  attachmentBytes: (id: string, thumbnail: boolean) => call<ArrayBuffer>('attachment_bytes', { id, thumbnail }),
  /** Opens an attachment with the OS's application for its type. */
  openAttachment: (id: string) => call<void>('open_attachment', { id }),
  /** Saves a copy where the user says (the OS's save dialog); the path, or `null` if cancelled. */
  saveAttachment: (id: string) => call<string | null>('save_attachment', { id }),
  /** This account's download cache limit in bytes. */
  downloadLimit: () => call<number>('download_limit'),
  setDownloadLimit: (bytes: number) => call<number>('set_download_limit', { bytes }),
  /** A server of another kind's form, to edit it (no secret in it: `secretKept` says one is kept). */
  profileForm: (account: string) => invoke<SavedProfile>('profile_form', { account }),
  /** Adds (`account` null) or changes a server of another kind; its connection (re)starts. */
  saveProfile: (account: string | null, form: ProfileForm) => invoke<SessionInfo>('save_profile', { account, form }),
  /** Tries the form's connection once, step by step (a blank secret: the one kept for `account`). */
  testProfile: (account: string | null, form: ProfileForm) => invoke<CheckReport>('test_profile', { account, form }),
  /** Removes a server of another kind: its connection, saved form, secret and cached notifications. */
  removeProfile: (account: string) => invoke<void>('remove_profile', { account }),
  /** Opens a web address in the default browser (never inside the app). */
  openExternal: (url: string) => openUrl(url),
};
