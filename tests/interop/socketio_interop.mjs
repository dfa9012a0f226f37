// Interop checks for the Socket.IO endpoint (/socket.io/) of tidings-server, driven by the
// real socket.io-client 4 in the seeds' usage shapes (the casting platform's and the
// mini-Facebook's clients): auth.token, message:send / message:new / message:sent /
// message:received / message:error, typing, read, presence, notifications, reconnect; bad
// input; the limits (on a private server with small limits); and the same chat across
// protocols (Socket.IO <-> STOMP via @stomp/stompjs, notifications on SSE).
//
// Environment (run.sh sets these): INTEROP_SERVER_BINARY (the checks start private servers
// with it: one for the chat, whose registration budget the other scripts have not spent,
// and one with small limits), INTEROP_JWT_SECRET, INTEROP_SERVICE_TOKEN; without the
// binary, INTEROP_HOST and INTEROP_PORT name the server (the limit checks then fail).
// Also INTEROP_ONLY (regex), INTEROP_TIMEOUT_MS (default 5000).
// One line per check, then "N passed, M failed". Every wait has a deadline.

import { io } from 'socket.io-client';
import { Client } from '@stomp/stompjs';
import WebSocket from 'ws';
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const HOST = process.env.INTEROP_HOST || '127.0.0.1';
// The server under test: a private one this script starts (see the runner), or, without
// INTEROP_SERVER_BINARY, the one at INTEROP_PORT.
let PORT = Number(process.env.INTEROP_PORT || 8080);
const SECRET = process.env.INTEROP_JWT_SECRET || 'socketio-interop-secret-0123456789';
let SERVICE_TOKEN = process.env.INTEROP_SERVICE_TOKEN || '';
const SERVER_BINARY = process.env.INTEROP_SERVER_BINARY || '';
const ONLY = process.env.INTEROP_ONLY ? new RegExp(process.env.INTEROP_ONLY) : null;
const T = Number(process.env.INTEROP_TIMEOUT_MS || 5000);

class CheckFailure extends Error {}
const assert = (c, m) => { if (!c) throw new CheckFailure(m); };
function assertEq(a, e, what) {
  if (JSON.stringify(a) !== JSON.stringify(e)) throw new CheckFailure(`${what}: expected ${JSON.stringify(e)}, got ${JSON.stringify(a)}`);
}
function within(p, ms, what) {
  let t;
  return Promise.race([p, new Promise((_, rej) => { t = setTimeout(() => rej(new CheckFailure(`timed out after ${ms} ms waiting for ${what}`)), ms); })]).finally(() => clearTimeout(t));
}
const rand = () => crypto.randomBytes(5).toString('hex');
const b64url = b => Buffer.from(b).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
function mintJwt(sub, secret = SECRET, expIn = 3600) {
  const now = Math.floor(Date.now() / 1000);
  const h = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const p = b64url(JSON.stringify({ sub, iat: now, exp: now + expIn }));
  return `${h}.${p}.${b64url(crypto.createHmac('sha256', secret).update(`${h}.${p}`).digest())}`;
}

/** Events received on a socket, waitable. */
class Inbox {
  constructor() { this.items = []; this.waiters = []; }
  push(x) {
    this.items.push(x);
    for (const w of [...this.waiters]) if (w.pred(x)) { this.waiters.splice(this.waiters.indexOf(w), 1); w.resolve(x); }
  }
  waitFor(pred, what, ms = T) {
    const f = this.items.find(pred);
    if (f) return Promise.resolve(f);
    return within(new Promise(resolve => this.waiters.push({ pred, resolve })), ms, what);
  }
}

function base(port) { return `http://${HOST}:${port}`; }

/** A socket.io-client socket as the seeds make it; every event lands in `inbox`. */
function client(ctx, token, { port = PORT, opts = {} } = {}) {
  const socket = io(base(port), { auth: token === undefined ? undefined : { token }, transports: ['websocket', 'polling'], reconnection: false, forceNew: true, ...opts });
  const inbox = new Inbox();
  socket.onAny((event, data) => inbox.push({ event, data }));
  socket.on('connect_error', err => inbox.push({ event: 'connect_error', data: err }));
  socket.on('disconnect', reason => inbox.push({ event: 'disconnect', data: reason }));
  ctx.track(socket);
  return { socket, inbox, on: (ev, pred = () => true, what = ev, ms = T) => inbox.waitFor(x => x.event === ev && pred(x.data), what, ms) };
}
async function connected(ctx, token, o) {
  const c = client(ctx, token, o);
  const est = await c.on('connection:established');
  c.established = est.data;
  return c;
}
/** emitWithAck with a deadline. */
function call(c, event, data) {
  return within(c.socket.timeout(T).emitWithAck(event, data), T + 500, `the ack of ${event}`);
}

async function rest(method, p, { token, body, port = PORT } = {}) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const r = await within(fetch(`${base(port)}${p}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }), T, `${method} ${p}`);
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}
async function signUp(prefix, port = PORT) {
  const username = `${prefix}-${rand()}`;
  const password = `pw-${rand()}-${rand()}`;
  const reg = await rest('POST', '/api/auth/register', { body: { username, password }, port });
  assertEq(reg.status, 201, `register ${username}`);
  const login = await rest('POST', '/api/auth/login', { body: { username, password }, port });
  return { name: username, token: login.body.accessToken };
}
// Registrations are rate-limited per address (and the other scripts register too): the
// checks share a few users, each check in a conversation of its own.
const pools = new Map();
let turn = 0;
async function users(port) {
  if (!pools.has(port)) {
    const list = [];
    for (const p of ['sio-a', 'sio-b', 'sio-c', 'sio-d']) list.push(await signUp(p, port));
    pools.set(port, list);
  }
  return pools.get(port);
}
/** A fresh conversation between two of the shared users (alice creates it), and an outsider. */
async function chat(port = PORT) {
  const u = await users(port);
  const i = turn++ % u.length;
  const alice = u[i], bob = u[(i + 1) % u.length], mallory = u[(i + 2) % u.length];
  const c = await rest('POST', '/api/conversations', { token: alice.token, body: { kind: 'group', title: 'Socket.IO', participants: [bob.name] }, port });
  assertEq(c.status, 201, `create conversation: ${JSON.stringify(c.body)}`);
  return { alice, bob, mallory, cid: c.body.id };
}

const checks = [];
const check = (name, fn, timeout) => checks.push({ name, fn, timeout });

// ---------------------------------------------------------------- handshake

check('connect with auth.token: connection:established names the user', async ctx => {
  const { alice } = await chat();
  const a = await connected(ctx, alice.token);
  assertEq(a.established.userId, alice.name, 'userId');
  assert(Array.isArray(a.established.connectedUsers), 'connectedUsers is a list');
});

check('connect with an Authorization: Bearer header (the mini-Facebook fallback)', async ctx => {
  const { alice } = await chat();
  const a = await connected(ctx, undefined, { opts: { transports: ['polling'], extraHeaders: { Authorization: `Bearer ${alice.token}` } } });
  assertEq(a.established.userId, alice.name, 'userId');
});

check('a bad or missing token gets connect_error with a clear message', async ctx => {
  const bad = client(ctx, mintJwt('alice', 'not-the-secret'));
  const e1 = await bad.on('connect_error');
  assert(/signature is invalid/.test(e1.data.message), `bad signature: ${e1.data.message}`);
  const none = client(ctx, undefined);
  const e2 = await none.on('connect_error');
  assert(/missing access token/.test(e2.data.message), `missing: ${e2.data.message}`);
  const junk = client(ctx, 'junk');
  const e3 = await junk.on('connect_error');
  assert(/malformed/.test(e3.data.message), `malformed: ${e3.data.message}`);
});

check('a browser page from an origin not in allowed_origins is refused with 403 and a sentence', async () => {
  const url = `${base(PORT)}/socket.io/?EIO=4&transport=polling`;
  const evil = await within(fetch(url, { headers: { Origin: 'http://evil.example' } }), T, 'the refused handshake');
  assertEq(evil.status, 403, 'status');
  const body = await evil.json();
  assert(/allowed_origins/.test(body.message), `message: ${body.message}`);
  const plain = await within(fetch(url), T, 'a handshake without Origin');
  assertEq(plain.status, 200, 'no Origin (not a browser): allowed');
  assert((await plain.text()).startsWith('0{'), 'the Engine.IO open packet');
});

check('a token that expires while connected ends the socket with message:error, then disconnect', async ctx => {
  const { alice } = await chat();
  const a = await connected(ctx, mintJwt(alice.name, SECRET, 2));
  const e = await a.on('message:error', d => d.code === 'disconnected', 'message:error disconnected', 10000);
  assert(/access token expired/.test(e.data.error), `message: ${e.data.error}`);
  const d = await a.on('disconnect', () => true, 'disconnect', 5000);
  assertEq(d.data, 'io server disconnect', 'disconnect reason');
}, 20000);

// ---------------------------------------------------------------- the chat

check('join, send, receive: message:sent to the sender, message:received and message:new to the other', async ctx => {
  const { alice, bob, cid } = await chat();
  const a = await connected(ctx, alice.token);
  const b = await connected(ctx, bob.token);
  assertEq((await call(b, 'join-conversation', cid)).ok, true, 'bob joins (casting shape: the bare id)');
  const clientId = crypto.randomUUID();
  const ack = await call(a, 'message:send', { conversationId: cid, receiverId: bob.name, content: 'Hello over Socket.IO', messageType: 'text', clientId });
  assertEq([ack.ok, ack.message.seq, ack.message.clientId], [true, 1, clientId], 'ack');
  const sent = await a.on('message:sent');
  assertEq([sent.data.seq, sent.data.senderId, sent.data.conversationId, sent.data.messageType], [1, alice.name, cid, 'text'], 'message:sent');
  const got = await b.on('message:received');
  assertEq([got.data.content, got.data.seq, got.data.id], ['Hello over Socket.IO', 1, ack.message.id], 'message:received');
  const room = await b.on('message:new');
  assertEq([room.data.conversationId, room.data.message.content, room.data.content], [cid, 'Hello over Socket.IO', 'Hello over Socket.IO'], 'message:new, both shapes');
});

check('the same clientId sent twice stores one message (ack says created: false)', async ctx => {
  const { alice, cid } = await chat();
  const a = await connected(ctx, alice.token);
  const clientId = crypto.randomUUID();
  const one = await call(a, 'message:send', { conversationId: cid, content: 'once', clientId });
  const two = await call(a, 'message:send', { conversationId: cid, content: 'once', clientId });
  assertEq([one.created, two.created, two.message.seq, two.message.id], [true, false, 1, one.message.id], 'acks');
  const hist = await rest('GET', `/api/conversations/${cid}/messages`, { token: alice.token });
  assertEq(hist.body.lastSeq, 1, 'one message stored');
});

check('typing: message:typing / message:stop_typing reach a joined participant as typing:start / typing:stop', async ctx => {
  const { alice, bob, cid } = await chat();
  const a = await connected(ctx, alice.token);
  const b = await connected(ctx, bob.token);
  await call(b, 'conversation:join', { conversationId: cid });
  a.socket.emit('message:typing', { conversationId: cid, receiverId: bob.name });
  const start = await b.on('typing:start');
  assertEq([start.data.userId, start.data.conversationId, start.data.isTyping], [alice.name, cid, true], 'typing:start');
  a.socket.emit('message:stop_typing', { conversationId: cid, receiverId: bob.name });
  const stop = await b.on('typing:stop');
  assertEq([stop.data.userId, stop.data.isTyping], [alice.name, false], 'typing:stop');
});

check('read: message:read moves the marker and tells the room', async ctx => {
  const { alice, bob, cid } = await chat();
  const a = await connected(ctx, alice.token);
  const b = await connected(ctx, bob.token);
  await call(a, 'conversation:join', cid);
  await call(a, 'message:send', { conversationId: cid, content: 'read me' });
  await b.on('message:received');
  const ack = await call(b, 'message:read', { conversationId: cid, upTo: 1 });
  assertEq([ack.ok, ack.readSeq, ack.unreadCount], [true, 1, 0], 'ack');
  const r = await a.on('message:read', d => d.userId === bob.name);
  assertEq([r.data.conversationId, r.data.upTo], [cid, 1], 'message:read in the room');
});

check('presence: user:online and user:offline', async ctx => {
  // Users of its own: a shared user may still be online from an earlier check.
  const alice = await signUp('sio-p');
  const bob = await signUp('sio-q');
  const a = await connected(ctx, alice.token);
  const b = await connected(ctx, bob.token);
  await a.on('user:online', d => d.userId === bob.name, 'user:online for bob');
  b.socket.disconnect();
  await a.on('user:offline', d => d.userId === bob.name, 'user:offline for bob');
});

check('notifications: a service notification arrives as notification:new (and on SSE with the same seq)', async ctx => {
  const { bob } = await chat();
  const b = await connected(ctx, bob.token);
  const sse = await openSse(ctx, bob.token);
  const created = await rest('POST', '/api/notifications', { token: SERVICE_TOKEN, body: { users: [bob.name], kind: 'appointment.moved', title: 'Appointment moved', message: 'Thursday 10:30' } });
  assertEq(created.status, 201, 'service notification');
  const n = await b.on('notification:new');
  assertEq([n.data.type, n.data.title, n.data.message, n.data.isRead, typeof n.data.seq], ['appointment.moved', 'Appointment moved', 'Thursday 10:30', false, 'number'], 'notification:new');
  const s = await sse.waitFor(e => e.event === 'notification', 'SSE notification');
  const env = JSON.parse(s.data);
  assertEq([(env.payload || env).seq, (env.payload || env).id], [n.data.seq, n.data.id], 'the same notification on SSE');
});

check('reconnect: after the transport drops, the client reconnects and the chat goes on', async ctx => {
  const { alice, bob, cid } = await chat();
  const b = await connected(ctx, bob.token);
  const a = client(ctx, alice.token, { opts: { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 500 } });
  await a.on('connection:established');
  a.socket.io.engine.close();
  await a.on('disconnect');
  await a.inbox.waitFor(x => x.event === 'connection:established' && a.inbox.items.filter(y => y.event === 'connection:established').length >= 2, 'a second connection:established');
  const ack = await call(a, 'message:send', { conversationId: cid, content: 'after reconnect' });
  assertEq(ack.ok, true, 'send after reconnect');
  const got = await b.on('message:received', d => d.content === 'after reconnect');
  assertEq(got.data.seq, 1, 'seq');
});

// ---------------------------------------------------------------- bad input

check('bad input: unknown conversation, not a member, oversize content, unknown event get message:error', async ctx => {
  const { cid, mallory } = await chat();
  const m = await connected(ctx, mallory.token);
  const unknown = await call(m, 'conversation:join', 'c_does_not_exist');
  assertEq([unknown.ok, unknown.code], [false, 'not_found'], `unknown conversation: ${JSON.stringify(unknown)}`);
  const e1 = await m.on('message:error', d => d.code === 'not_found');
  assert(/no conversation/.test(e1.data.error), `message:error text: ${e1.data.error}`);
  const notMine = await call(m, 'conversation:join', cid);
  assertEq([notMine.ok, notMine.code], [false, 'forbidden'], 'not a member: join');
  const send = await call(m, 'message:send', { conversationId: cid, content: 'let me in' });
  assertEq([send.ok, send.code], [false, 'forbidden'], `not a member: send ${JSON.stringify(send)}`);
  const big = await call(m, 'message:send', { conversationId: cid, content: 'x'.repeat(4001) });
  assertEq([big.ok, big.code], [false, 'invalid'], `oversize content: ${JSON.stringify(big)}`);
  m.socket.emit('no:such-event', {});
  const e2 = await m.on('message:error', d => d.code === 'unknown_event');
  assert(/unknown event/.test(e2.data.error), 'unknown event');
  const noCid = await call(m, 'message:send', { content: 'where to?' });
  assertEq([noCid.ok, noCid.code], [false, 'invalid'], 'no conversationId');
});

// ---------------------------------------------------------------- across protocols

function stompClient(ctx, token) {
  const inbox = new Inbox();
  const c = new Client({ brokerURL: `ws://${HOST}:${PORT}/ws`, connectHeaders: { Authorization: `Bearer ${token}` }, webSocketFactory: () => new WebSocket(`ws://${HOST}:${PORT}/ws`, ['v12.stomp']), reconnectDelay: 0, heartbeatIncoming: 0, heartbeatOutgoing: 0 });
  const up = new Promise((resolve, reject) => { c.onConnect = resolve; c.onStompError = f => reject(new CheckFailure(f.headers.message)); });
  c.activate();
  ctx.track({ disconnect: () => c.deactivate() });
  return { c, inbox, up: within(up, T, 'STOMP CONNECTED') };
}

check('across protocols: Socket.IO sender -> STOMP receiver, STOMP sender -> Socket.IO receiver, same seq', async ctx => {
  const { alice, bob, cid } = await chat();
  const s = stompClient(ctx, bob.token);
  await s.up;
  const receipt = new Promise(r => s.c.watchForReceipt('sub-1', r));
  s.c.subscribe('/user/queue/messages', m => s.inbox.push(JSON.parse(m.body)), { receipt: 'sub-1' });
  await within(receipt, T, 'the SUBSCRIBE receipt');
  const a = await connected(ctx, alice.token);
  const ack = await call(a, 'message:send', { conversationId: cid, content: 'from Socket.IO' });
  const env = await s.inbox.waitFor(e => e.type === 'CHAT_MESSAGE' && e.payload.content === 'from Socket.IO', 'CHAT_MESSAGE on STOMP');
  assertEq([env.payload.seq, env.payload.id, env.payload.clientId], [ack.message.seq, ack.message.id, ack.message.clientId], 'the same message on STOMP');
  const clientId = crypto.randomUUID();
  s.c.publish({ destination: `/app/conversations/${cid}/send`, body: JSON.stringify({ clientId, content: 'from STOMP' }) });
  const got = await a.on('message:received', d => d.content === 'from STOMP');
  assertEq([got.data.seq, got.data.clientId, got.data.senderId], [2, clientId, bob.name], 'the STOMP message on Socket.IO');
});

/** The notification SSE stream; events land in an Inbox as {event, data}. */
async function openSse(ctx, token) {
  const inbox = new Inbox();
  const ac = new AbortController();
  ctx.track({ disconnect: () => ac.abort() });
  const r = await within(fetch(`${base(PORT)}/api/notifications/stream`, { headers: { Authorization: `Bearer ${token}` }, signal: ac.signal }), T, 'the SSE stream');
  assertEq(r.status, 200, 'SSE status');
  (async () => {
    const dec = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of r.body) {
        buf += dec.decode(chunk, { stream: true });
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i); buf = buf.slice(i + 2);
          const ev = { event: 'message', data: '' };
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) ev.event = line.slice(6).trim();
            else if (line.startsWith('data:')) ev.data += line.slice(5).trim();
          }
          inbox.push(ev);
        }
      }
    } catch { /* aborted */ }
  })();
  await inbox.waitFor(e => e.event === 'connected', 'SSE connected');
  return inbox;
}

// ---------------------------------------------------------------- limits (a private server)

const LIMITS = { max_connections: 3, event_burst: 5, events_per_minute: 5, max_payload_bytes: 4096, connect_timeout_ms: 800 };
const servers = [];
let limited = null;

/** A private tidings-server with `toml` as its config file; resolves with its port. */
async function startServer(toml) {
  assert(SERVER_BINARY, 'INTEROP_SERVER_BINARY is not set: these checks start their own server');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidings-sio-'));
  const cfg = path.join(dir, 'server.toml');
  fs.writeFileSync(cfg, toml);
  const args = ['--listen', '127.0.0.1:0', '--jwt-secret', SECRET,
    '--service-token', SERVICE_TOKEN || 'socketio-interop-service-token', '--data-dir', path.join(dir, 'data'), '--config', cfg];
  const proc = spawn(SERVER_BINARY, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stderr.resume();
  const server = { proc, dir };
  servers.push(server);
  let out = '';
  server.port = await within(new Promise((resolve, reject) => {
    proc.stdout.on('data', d => { out += d; const m = out.match(/listening on 127\.0\.0\.1:(\d+)/); if (m) resolve(Number(m[1])); });
    proc.on('exit', code => reject(new CheckFailure(`the private server exited (${code})`)));
    proc.on('error', e => reject(new CheckFailure(`cannot start ${SERVER_BINARY}: ${e.message}`)));
  }), 30000, 'a private server to listen');
  return server;
}

async function limitsServer() {
  if (!limited) limited = await startServer(`[socketio]\n${Object.entries(LIMITS).map(([k, v]) => `${k} = ${v}`).join('\n')}\n`);
  return limited;
}

check('limit: socketio.max_connections refuses the next connection with connect_error', async ctx => {
  const { port } = await limitsServer();
  const u = (await users(port))[0];
  for (let i = 0; i < LIMITS.max_connections; i++) await connected(ctx, u.token, { port });
  const extra = client(ctx, u.token, { port });
  const e = await extra.on('connect_error');
  assert(/too many Socket.IO connections on this server: the limit is 3/.test(e.data.message), `message: ${e.data.message}`);
}, 30000);

check('limit: socketio.event_burst / events_per_minute refuse events past the budget with message:error', async ctx => {
  const { port } = await limitsServer();
  const { alice, cid } = await chat(port);
  const a = await connected(ctx, alice.token, { port });
  const answers = [];
  for (let i = 0; i < LIMITS.event_burst + 3; i++) answers.push(call(a, 'message:typing', { conversationId: cid }).catch(e => ({ timeout: e.message })));
  const e = await a.on('message:error', d => d.code === 'rate_limited');
  assert(/at most 5 events per minute on one connection/.test(e.data.error), `message: ${e.data.error}`);
  const settled = await Promise.all(answers.slice(0, LIMITS.event_burst));
  assert(settled.every(x => x.ok === true), `the first ${LIMITS.event_burst} events pass: ${JSON.stringify(settled)}`);
}, 30000);

check('limit: socketio.max_payload_bytes closes a connection that sends a larger packet', async ctx => {
  const { port } = await limitsServer();
  const { alice, cid } = await chat(port);
  const a = await connected(ctx, alice.token, { port, opts: { transports: ['websocket'] } });
  a.socket.emit('message:send', { conversationId: cid, content: 'y'.repeat(LIMITS.max_payload_bytes * 2) });
  const d = await a.on('disconnect');
  assert(/transport (close|error)/.test(d.data), `disconnect reason: ${d.data}`);
}, 30000);

check('limit: socketio.connect_timeout_ms closes an Engine.IO connection that never connects a namespace', async () => {
  const { port } = await limitsServer();
  const ws = new WebSocket(`ws://${HOST}:${port}/socket.io/?EIO=4&transport=websocket`);
  const opened = Date.now();
  const first = await within(new Promise(r => ws.once('message', d => r(String(d)))), T, 'the Engine.IO open packet');
  assert(first.startsWith('0{'), `open packet: ${first}`);
  await within(new Promise(r => ws.once('close', r)), T + LIMITS.connect_timeout_ms, 'the server to close the idle connection');
  assert(Date.now() - opened >= LIMITS.connect_timeout_ms - 50, 'closed no earlier than the connect timeout');
}, 30000);

// ---------------------------------------------------------------- runner

let passed = 0, failed = 0;
// The chat checks register a dozen users: on a private server of their own, whose
// per-address registration budget the other interop scripts have not spent.
if (SERVER_BINARY) {
  SERVICE_TOKEN = SERVICE_TOKEN || 'socketio-interop-service-token';
  PORT = (await startServer('[auth]\nregistrations_per_hour_per_address = 1000\n')).port;
}
console.log(`socket.io-client interop against ${base(PORT)}/socket.io/`);
for (const c of checks) {
  if (ONLY && !ONLY.test(c.name)) continue;
  const tracked = [];
  const ctx = { track: x => tracked.push(x) };
  const started = Date.now();
  try {
    await within(c.fn(ctx), c.timeout || 20000, 'the whole check');
    passed += 1;
    console.log(`PASS socketio ${c.name} (${Date.now() - started} ms)`);
  } catch (e) {
    failed += 1;
    console.log(`FAIL socketio ${c.name} (${Date.now() - started} ms): ${e instanceof CheckFailure ? e.message : (e && e.stack) || e}`);
  } finally {
    for (const x of tracked) { try { x.disconnect(); } catch { /* gone */ } }
  }
}
for (const s of servers) { s.proc.kill('SIGTERM'); }
await Promise.all(servers.map(s => new Promise(r => (s.proc.exitCode !== null ? r() : s.proc.once('exit', r)))));
for (const s of servers) fs.rmSync(s.dir, { recursive: true, force: true });
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
