// Generated from the Rust types by src-tauri/src/bindings.rs (ts-rs). Do not edit:
// run `make bindings`.

export type ContentType = "TEXT" | "MARKDOWN";
export type ConversationKind = "direct" | "group";
export type Message = { id: string, conversationId: string, 
/**
 * Position in the conversation: contiguous from 1.
 */
seq: number, senderId: string, 
/**
 * The sender's idempotency key.
 */
clientId: string, 
/**
 * Empty for a tombstone.
 */
content: string, contentType: ContentType, createdAt: string, 
/**
 * The conversation's revision at this entry's last change (creation, edit, deletion,
 * reaction). 0 from servers that keep no revisions.
 */
rev: number, 
/**
 * When the content was last replaced.
 */
editedAt?: string | null, 
/**
 * A tombstone: the message was deleted and its content erased.
 */
deleted?: boolean, 
/**
 * The message this one replies to (in the same conversation).
 */
replyTo?: ReplyRef | null, 
/**
 * Users mentioned (participants when it was sent or edited), by id.
 */
mentions?: Array<string>, 
/**
 * Reactions, one entry per emoji, in the order each emoji was first used.
 */
reactions?: Array<Reaction>, 
/**
 * Set for a system entry of the timeline (a membership change, a rename); `content`
 * then says it in words and `senderId` is who did it.
 */
system?: SystemEntry | null, 
/**
 * Files and images sent with the message, in the order the sender gave them. Left out
 * when empty, so a message without attachments looks as it did before them.
 */
attachments?: Array<Attachment>, };
export type Attachment = { 
/**
 * `a_` and 32 hex digits; also the upload's id.
 */
id: string, 
/**
 * The file name as the sender gave it (no path separators or control characters).
 */
name: string, 
/**
 * Bytes stored (for images, after their EXIF metadata was stripped).
 */
size: number, 
/**
 * The media type, as the server established it from the bytes.
 */
contentType: string, 
/**
 * Pixels, for images (PNG, JPEG, GIF, WebP).
 */
width?: number | null, height?: number | null, 
/**
 * Whether `GET /api/attachments/{id}/thumbnail` has a small preview.
 */
hasThumbnail: boolean, };
export type ReplyRef = { messageId: string, 
/**
 * The original's `seq`, to find it (or load history up to it).
 */
seq: number, };
export type Reaction = { emoji: string, 
/**
 * User ids, in the order they reacted; the count is their number.
 */
users: Array<string>, };
export type SystemAction = "added" | "removed" | "left" | "renamed";
export type SystemEntry = { action: SystemAction, 
/**
 * The users added or removed.
 */
users?: Array<string>, 
/**
 * The new title of a rename.
 */
title?: string | null, };
export type User = { 
/**
 * The unique login name.
 */
id: string, displayName: string, online: boolean, roles?: Array<string>, };
export type Participant = { id: string, displayName: string, online: boolean, 
/**
 * The participant's read marker: every message up to this `seq` is read.
 */
readSeq: number, };
export type Notification = { id: string, userId: string, 
/**
 * Position among the user's notifications: contiguous from 1.
 */
seq: number, 
/**
 * What kind of notification, chosen by whoever raised it (`appointment.moved`,
 * `conversation.added`, …).
 */
kind: string, title: string, message: string, 
/**
 * Arbitrary data from the service that raised it.
 */
data?: unknown, 
/**
 * Where opening it leads: a conversation of the user's…
 */
conversationId?: string | null, 
/**
 * …or a web address.
 */
url?: string | null, isRead: boolean, createdAt: string, };
export type Typing = { conversationId: string, userId: string, typing: boolean, expiresInMs?: number | null, };
export type Presence = { userId: string, online: boolean, };
export type ReadReceipt = { conversationId: string, userId: string, upTo: number, unreadCount?: number | null, };
export type NotifyLevel = "all" | "mentions" | "none";
export type CachedConversation = { id: string, kind: ConversationKind, title: string | null, createdBy: string, createdAt: string, lastSeq: number, syncedSeq: number, readSeq: number, unreadCount: number, 
/**
 * The revision held: every change of the timeline up to it is cached.
 */
rev: number, 
/**
 * The user left (or was removed): kept and readable, not sent to.
 */
left: boolean, 
/**
 * Who removed the user, when the engine saw it happen (the live `CONVERSATION_LEFT`).
 * `None` when they are in, left themselves, or the engine only learnt that they are
 * out (a listing without it, a 403) while it was not connected.
 */
removedBy: string | null, 
/**
 * The user left by themselves (here or on another device, seen live).
 */
leftThemselves: boolean, 
/**
 * Which messages raise a notification here (local to this device).
 */
notifyLevel: NotifyLevel, 
/**
 * `notifyLevel` is `none`.
 */
muted: boolean, participants: Array<Participant>, lastMessage: Message | null, 
/**
 * Messages written here and not yet confirmed by the server.
 */
pending: number, };
export type OutboxState = "pending" | "sending" | "sent" | "failed";
export type OutboxEntry = { clientId: string, conversationId: string, content: string, contentType: ContentType, createdAt: string, state: OutboxState, attempts: number, error: string | null, 
/**
 * The stored message's `seq`, once known.
 */
seq: number | null, 
/**
 * The id of the message this one replies to.
 */
replyTo: string | null, 
/**
 * Participants it mentions, by id.
 */
mentions: Array<string>, 
/**
 * Files sent with it, with their upload's progress (empty for a text message).
 */
attachments: Array<OutboxFile>, };
export type OutboxFile = { 
/**
 * 0, 1, … in the order the user gave the files.
 */
position: number, name: string, 
/**
 * The declared media type (from the name's extension), if any.
 */
contentType: string | null, size: number, 
/**
 * Bytes the server has acknowledged.
 */
sent: number, 
/**
 * The server's upload (and attachment) id, once it answered the creation.
 */
uploadId: string | null, 
/**
 * The server finished and stored the file.
 */
done: boolean, };
export type Variant = "file" | "thumbnail";
export type Download = { attachmentId: string, variant: Variant, 
/**
 * Where the bytes are (absolute).
 */
path: string, size: number, contentType: string, 
/**
 * The file's name as the server gave it (`Content-Disposition`), when it did.
 */
name: string | null, 
/**
 * The server's `ETag` (the SHA-256 of the bytes, quoted).
 */
etag: string | null, };
export type UploadProgress = { sent: number, total: number, };
export type SearchHit = { message: Message, snippet: string, };
export type Draft = { conversationId: string, text: string, 
/**
 * The id of the message it replies to.
 */
replyTo: string | null, updatedAt: string, };
export type ScrollAnchor = { seq: number, offset: number, };
export type EngineState = { "state": "connecting" } | { "state": "catchingUp", done: number, total: number, } | { "state": "live" } | { "state": "reconnecting", at: string, attempt: number, reason: string, } | { "state": "offline" } | { "state": "signedOut", reason: string, } | { "state": "stopped" };
export type SessionInfo = { 
/**
 * The account's id: `user@host[:port]` (also its cache's name).
 */
id: string, server: string, user: string, 
/**
 * A server of another kind (a connection profile: `user` is its name, `server` its
 * URL); `None` for a Tidings account.
 */
kind: ServerKind | null, };
export type OpenTarget = { account: string, conversation: string, };
export type OpenNotifications = { account: string | null, };
export type AccountEvent<T> = { account: string, payload: T, };
export type IpcCode = "not_signed_in" | "unreachable" | "refused" | "invalid" | "io" | "failed" | "update";
export type IpcError = { code: IpcCode, message: string, };
export type HistoryPage = { messages: Array<Message>, pending: Array<OutboxEntry>, quoted: Array<Message>, };
export type Startup = { 
/**
 * The active account (the window shows it).
 */
session: SessionInfo | null, 
/**
 * Every account signed in, in the switcher's order.
 */
accounts: Array<SessionInfo>, open: OpenTarget | null, 
/**
 * The notification list to open, if a click on a notification asked for it.
 */
openNotifications: OpenNotifications | null, 
/**
 * The server to offer on the sign-in form.
 */
server: string | null, };
export type AccountSummary = { info: SessionInfo, unread: number, state: EngineState, };
export type PeoplePage = { users: Array<User>, 
/**
 * Pass back to get the next page; `null` on the last one.
 */
nextCursor: string | null, };
export type LocalFile = { path: string, name: string, size: number, 
/**
 * Why it cannot be sent (over the server's limit, empty, a folder, …), in a sentence;
 * `null` when it can.
 */
refused: string | null, 
/**
 * Written from pasted bytes into the app's scratch folder (removed once sent or dropped).
 */
pasted: boolean, };
export type Privacy = "full" | "senderOnly" | "hidden";
export type QuietHours = { enabled: boolean, start: string, end: string, };
export type Settings = { doNotDisturb: boolean, quietHours: QuietHours, privacy: Privacy, 
/**
 * Start hidden in the tray when the user logs in.
 */
startAtLogin: boolean, 
/**
 * Closing the window hides it to the tray (else it quits).
 */
closeToTray: boolean, 
/**
 * The server last signed in to (prefills the sign-in form).
 */
server: string | null, 
/**
 * The window's text size (its webview's zoom) in percent, 50-300 (Ctrl+= / Ctrl+- / Ctrl+0).
 */
zoomPercent: number, 
/**
 * The account the window showed last (the app opens on it again).
 */
lastAccount: string | null, };
export type UpdateInfo = { version: string, currentVersion: string, notes: string | null, date: string | null, };
export type UpdateProgress = { "stage": "downloading", done: number, total: number | null, } | { "stage": "verified" } | { "stage": "failed", message: string, };
export type FirstPaint = { 
/**
 * Conversations in the list.
 */
conversations: number, 
/**
 * Messages of the open conversation (0 when none opened by itself).
 */
messages: number, };
export type ServerKind = "spring" | "rabbitmq" | "socketio";
export type TokenSource = { "type": "none" } | { "type": "login", url: string, username: string, 
/**
 * Blank when editing: the stored one is kept.
 */
password: string, tokenField: string, } | { "type": "token", token: string, } | { "type": "stomp", login: string, passcode: string, };
export type TokenPlacement = "authorization" | "passcode" | "handshake" | "query";
export type MessageFormat = "json" | "text";
export type EmitForm = { event: string, 
/**
 * Its argument as JSON text (blank: none).
 */
data: string, };
export type ProfileForm = { name: string, kind: ServerKind, url: string, auth: TokenSource, 
/**
 * Where the token goes (login and pasted tokens).
 */
placement: TokenPlacement, 
/**
 * The STOMP destinations (Spring, RabbitMQ) or Socket.IO events to follow.
 */
follow: Array<string>, 
/**
 * The Socket.IO namespace (`/`).
 */
namespace: string, 
/**
 * Socket.IO events to emit after each connect.
 */
emit: Array<EmitForm>, 
/**
 * RabbitMQ's virtual host (the STOMP `host` header; blank: the URL's host).
 */
vhost: string, format: MessageFormat, 
/**
 * The fields (names or JSON pointers) that make a notification's title, body and id;
 * blank: the profile's name, the whole message, one made up.
 */
titleField: string, bodyField: string, idField: string, };
export type SavedProfile = { account: string, form: ProfileForm, secretKept: boolean, };
export type CheckStep = { 
/**
 * `profile`, `token`, `connect` or `subscribe`.
 */
name: string, ok: boolean, 
/**
 * What worked, or what did not and why, in a sentence.
 */
detail: string, };
export type CheckReport = { 
/**
 * Every step worked.
 */
ok: boolean, steps: Array<CheckStep>, };
