// Servers of another kind (connection profiles): the form's starting values for each kind,
// its checks field by field (the backend checks again, in one sentence), and the words the
// form and the test's report use. Pure logic, unit tested.
import type { CheckStep, EmitForm, ProfileForm, ServerKind, TokenPlacement, TokenSource } from '../ipc/bindings';

/** The kinds, in the order offered, with their names for people. */
export const KINDS: { kind: ServerKind; label: string; hint: string }[] = [
  { kind: 'spring', label: 'Spring STOMP', hint: 'A Spring backend’s STOMP endpoint, such as ws://localhost:8080/ws' },
  { kind: 'rabbitmq', label: 'RabbitMQ Web-STOMP', hint: 'RabbitMQ’s Web-STOMP plugin, such as ws://localhost:15674/ws' },
  { kind: 'socketio', label: 'Socket.IO', hint: 'A Socket.IO server, such as http://localhost:3000' },
];

export function kindLabel(kind: ServerKind | null | undefined): string {
  return KINDS.find((k) => k.kind === kind)?.label ?? 'Tidings';
}

export type AuthType = TokenSource['type'];

/** The ways to get a token each kind offers, with their names. */
export function authChoices(kind: ServerKind): { type: AuthType; label: string }[] {
  const all: { type: AuthType; label: string }[] = [
    { type: 'none', label: 'None' },
    { type: 'login', label: 'Log in to an endpoint (username and password)' },
    { type: 'token', label: 'A token I paste' },
    { type: 'stomp', label: 'STOMP login and passcode' },
  ];
  return kind === 'socketio' ? all.filter((a) => a.type !== 'stomp') : all;
}

/** Where a token can go for this kind. */
export function placements(kind: ServerKind): { placement: TokenPlacement; label: string }[] {
  if (kind === 'socketio') {
    return [
      { placement: 'handshake', label: 'Handshake auth.token' },
      { placement: 'authorization', label: 'Authorization: Bearer header' },
      { placement: 'query', label: 'Query string ?token=' },
    ];
  }
  return [
    { placement: 'authorization', label: 'Authorization: Bearer header' },
    { placement: 'passcode', label: 'STOMP passcode' },
  ];
}

/** A token source of `type`, keeping what `from` already says where it fits. */
export function authOf(type: AuthType, from?: TokenSource): TokenSource {
  const login = from?.type === 'login' ? from : null;
  switch (type) {
    case 'none':
      return { type: 'none' };
    case 'login':
      return { type: 'login', url: login?.url ?? '', username: login?.username ?? '', password: '', tokenField: login?.tokenField ?? 'token' };
    case 'token':
      return { type: 'token', token: '' };
    case 'stomp':
      return { type: 'stomp', login: from?.type === 'stomp' ? from.login : '', passcode: '' };
  }
}

/** A new form for `kind`, with what that kind usually has. */
export function blankForm(kind: ServerKind): ProfileForm {
  const base = {
    name: '',
    kind,
    namespace: '/',
    emit: [],
    vhost: '',
    format: 'json' as const,
    titleField: 'title',
    bodyField: 'message',
    idField: 'id',
  };
  switch (kind) {
    case 'rabbitmq':
      return { ...base, url: 'ws://127.0.0.1:15674/ws', auth: { type: 'stomp', login: 'guest', passcode: '' },
        placement: 'authorization', follow: ['/topic/alerts'], vhost: '/', bodyField: 'body' };
    case 'spring':
      return { ...base, url: 'ws://127.0.0.1:8080/ws', auth: authOf('login'), placement: 'authorization',
        follow: ['/user/queue/notifications'] };
    case 'socketio':
      return { ...base, url: 'http://127.0.0.1:3000', auth: authOf('token'), placement: 'handshake',
        follow: ['notification:new'] };
  }
}

/** Another kind chosen: its usual address, token source and what to follow, the name kept. */
export function switchKind(form: ProfileForm, kind: ServerKind): ProfileForm {
  return { ...blankForm(kind), name: form.name };
}

/** The lines of a text box as a list (blank lines dropped). */
export function lines(text: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
}

export type Field = 'name' | 'url' | 'loginUrl' | 'username' | 'secret' | 'tokenField' | 'login' | 'follow' | 'emit';

/**
 * What is missing or wrong, by field (empty when the form can be tested and saved).
 * `secretKept`: editing, a secret is stored, and a blank one keeps it.
 */
export function problems(form: ProfileForm, secretKept = false): Partial<Record<Field, string>> {
  const out: Partial<Record<Field, string>> = {};
  if (!form.name.trim()) out.name = 'Give the server a name.';
  const url = form.url.trim();
  const ws = /^wss?:\/\//i.test(url);
  const http = /^https?:\/\//i.test(url);
  if (!url) out.url = 'Enter the server’s address.';
  else if (form.kind === 'socketio' && !(ws || http)) out.url = 'A Socket.IO address starts with http://, https://, ws:// or wss://.';
  else if (form.kind !== 'socketio' && !ws) out.url = 'A STOMP over WebSocket address starts with ws:// or wss://.';
  const a = form.auth;
  const noSecret = (s: string) => !s && !secretKept;
  if (a.type === 'login') {
    if (!/^https?:\/\//i.test(a.url.trim())) out.loginUrl = 'Enter the login endpoint’s address (http:// or https://).';
    if (!a.username.trim()) out.username = 'Enter the username to log in with.';
    if (noSecret(a.password)) out.secret = 'Enter the password.';
    if (!a.tokenField.trim()) out.tokenField = 'Name the field of the login answer that holds the token.';
  } else if (a.type === 'token') {
    if (noSecret(a.token.trim())) out.secret = 'Paste the token.';
  } else if (a.type === 'stomp') {
    if (!a.login.trim()) out.login = 'Enter the STOMP login.';
    if (noSecret(a.passcode)) out.secret = 'Enter the passcode.';
  }
  if (lines(form.follow.join('\n')).length === 0) {
    out.follow = form.kind === 'socketio' ? 'Name at least one event to follow.' : 'Name at least one destination, such as /topic/alerts.';
  }
  for (const e of form.emit) {
    if (e.event.trim() && e.data.trim()) {
      try {
        JSON.parse(e.data);
      } catch {
        out.emit = `The data to emit with ${e.event.trim()} is not JSON.`;
      }
    }
  }
  return out;
}

/** A test step's name for people. */
export function stepLabel(s: CheckStep): string {
  switch (s.name) {
    case 'profile':
      return 'Settings';
    case 'token':
      return 'Token';
    case 'connect':
      return 'Connect';
    case 'emit':
      return 'Emit on connect';
    case 'subscribe':
      return 'Follow';
    default:
      return s.name;
  }
}

/** What a new account with no notifications yet says it waits for. */
export function waitingFor(form: Pick<ProfileForm, 'kind' | 'follow'> | null): string {
  if (!form || form.follow.length === 0) return 'Notifications appear here as the server sends them.';
  const what = form.kind === 'socketio' ? 'emits' : 'sends a message to';
  const list = form.follow.join(', ');
  return `Notifications appear here when the server ${what} ${list}.`;
}

/** Events to emit on connect, one a line: the event, then (after a space) its JSON data. */
export function emitLines(text: string): EmitForm[] {
  return lines(text).map((l) => {
    const at = l.search(/\s/);
    return at < 0 ? { event: l, data: '' } : { event: l.slice(0, at), data: l.slice(at).trim() };
  });
}

export function emitText(list: EmitForm[]): string {
  return list.map((e) => (e.data ? `${e.event} ${e.data}` : e.event)).join('\n');
}
