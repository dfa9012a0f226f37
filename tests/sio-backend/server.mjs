// A seed-style Socket.IO backend for the client engine's tests: the event contract of the
// casting platform and the mini-Facebook (/work/shared/seeds), on socket.io 4.
//
//   node server.mjs [--port N] [--secret S] [--ping-interval MS] [--ping-timeout MS]
//
// Prints one line `sio-backend listening on 127.0.0.1:PORT` on stdout once it accepts
// connections.
//
// Users: alice, bob and carol, each with the password `<name>-password`.
//
// HTTP:
//   POST /api/auth/login      {"username", "password"} -> 200 {"token", "user"} | 401
//   POST /api/notifications   {"userId", "title", "message", "type"?, "data"?}
//                             -> `notification:new` to the user's room
//   POST /api/messages        {"conversationId", "senderId", "receiverId"?, "content"}
//                             -> `message:new` to the conversation's room, and
//                                `message:received` to the receiver's
//   GET  /test/sockets?user=U -> {"count"}: U's connected sockets
//   GET  /test/received       -> [{"user", "event", "data"}]: what clients emitted
//   POST /test/close-transport {"user"} -> {"count"}: closes the WebSocket of each of the
//                             user's sockets cleanly (a close frame), with no Socket.IO
//                             disconnect packet before it: what a proxy closing it does
//   GET  /healthz
//
// Socket.IO (namespace "/"): the token in the handshake's `auth.token`, an
// `Authorization: Bearer` header or the `token` query parameter, as in the seeds; refused
// with "Authentication token required" / "Invalid authentication token". On connect: the
// user's room `user:<id>`, `connection:established` to the user, `user:online` to the
// others. Events taken: `join-conversation` / `conversation:join` (an id or
// {conversationId}), `leave-conversation`, `message:send`, `message:typing`,
// `message:stop_typing`, as the seeds handle them.
//
// Bound to 127.0.0.1 only: the /test endpoints have no authentication.

import { createServer } from "node:http";
import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import { Server } from "socket.io";

const args = process.argv.slice(2);
function arg(name, fallback) {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}
const PORT = Number(arg("port", "0"));
const SECRET = arg("secret", "sio-backend-test-secret");
const TOKEN_TTL_S = Number(arg("token-ttl", "3600"));
const USERS = ["alice", "bob", "carol"];
const MAX_BODY = 64 * 1024;
const received = [];

const b64url = (buf) => Buffer.from(buf).toString("base64url");

function sign(payload) {
  const head = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const body = b64url(JSON.stringify(payload));
  const mac = createHmac("sha256", SECRET).update(`${head}.${body}`).digest();
  return `${head}.${body}.${b64url(mac)}`;
}

function verify(token) {
  const parts = String(token).split(".");
  if (parts.length !== 3) return null;
  const mac = createHmac("sha256", SECRET).update(`${parts[0]}.${parts[1]}`).digest();
  const given = Buffer.from(parts[2], "base64url");
  if (given.length !== mac.length || !timingSafeEqual(given, mac)) return null;
  try {
    const payload = JSON.parse(Buffer.from(parts[1], "base64url").toString());
    if (typeof payload.exp !== "number" || payload.exp * 1000 < Date.now()) return null;
    return payload;
  } catch {
    return null;
  }
}

function send(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
  });
  res.end(body);
}

function readJson(req) {
  return new Promise((resolve) => {
    let size = 0;
    const chunks = [];
    req.on("data", (c) => {
      size += c.length;
      if (size > MAX_BODY) {
        req.destroy();
        resolve(undefined);
      } else chunks.push(c);
    });
    req.on("end", () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString() || "null"));
      } catch {
        resolve(undefined);
      }
    });
  });
}

const http = createServer(async (req, res) => {
  const url = new URL(req.url, "http://localhost");
  if (url.pathname.startsWith("/socket.io/")) return; // socket.io's own
  if (req.method === "GET" && url.pathname === "/healthz") return send(res, 200, { ok: true });
  if (req.method === "GET" && url.pathname === "/test/sockets") {
    const sockets = await io.in(`user:${url.searchParams.get("user")}`).fetchSockets();
    return send(res, 200, { count: sockets.length });
  }
  if (req.method === "GET" && url.pathname === "/test/received") return send(res, 200, received);
  if (req.method !== "POST") return send(res, 404, { error: "Not found" });
  const body = await readJson(req);
  if (!body || typeof body !== "object") return send(res, 400, { error: "A JSON object is required" });
  switch (url.pathname) {
    case "/test/close-transport": {
      // engine.io's Socket#close closes the transport (for WebSocket: ws's close(), a clean
      // close frame) without a Socket.IO DISCONNECT or an engine.io CLOSE packet.
      const sockets = [...io.of("/").sockets.values()].filter((s) => s.user.id === body.user);
      for (const s of sockets) s.conn.close();
      return send(res, 200, { count: sockets.length });
    }
    case "/api/auth/login": {
      const name = body.username ?? body.email;
      if (!USERS.includes(name) || body.password !== `${name}-password`) {
        return send(res, 401, { success: false, error: "Invalid credentials" });
      }
      const now = Math.floor(Date.now() / 1000);
      const token = sign({ id: name, email: `${name}@example.com`, iat: now, exp: now + TOKEN_TTL_S });
      return send(res, 200, { success: true, token, user: { id: name, email: `${name}@example.com` } });
    }
    case "/api/notifications": {
      const n = {
        id: body.id ?? randomUUID(),
        type: body.type ?? "general",
        title: body.title,
        message: body.message,
        data: body.data ?? null,
        createdAt: new Date().toISOString(),
        isRead: false,
      };
      io.to(`user:${body.userId}`).emit("notification:new", n);
      return send(res, 201, n);
    }
    case "/api/messages": {
      const m = {
        id: body.id ?? randomUUID(),
        conversationId: body.conversationId,
        senderId: body.senderId,
        receiverId: body.receiverId ?? null,
        content: body.content,
        messageType: body.messageType ?? "text",
        createdAt: new Date().toISOString(),
      };
      if (m.receiverId) io.to(`user:${m.receiverId}`).emit("message:received", m);
      io.to(`conversation:${m.conversationId}`).emit("message:new", m);
      return send(res, 201, m);
    }
    default:
      return send(res, 404, { error: "Not found" });
  }
});

const io = new Server(http, {
  pingInterval: Number(arg("ping-interval", "25000")),
  pingTimeout: Number(arg("ping-timeout", "20000")),
  maxHttpBufferSize: MAX_BODY,
});

// The seeds' authentication middleware.
io.use((socket, next) => {
  const h = socket.handshake;
  const token =
    h.auth?.token || h.headers.authorization?.replace("Bearer ", "") || h.query?.token;
  if (!token) return next(new Error("Authentication token required"));
  const user = verify(token);
  if (!user) return next(new Error("Invalid authentication token"));
  socket.user = user;
  next();
});

const conversationId = (data) => (typeof data === "object" && data ? data.conversationId : data);

io.on("connection", (socket) => {
  const userId = socket.user.id;
  socket.join(`user:${userId}`);
  socket.broadcast.emit("user:online", { userId });
  const connectedUsers = [...io.of("/").sockets.values()].map((s) => s.user.id);
  socket.emit("connection:established", { userId, connectedUsers });
  socket.onAny((event, data) => {
    if (received.length < 1000) received.push({ user: userId, event, data: data ?? null });
  });
  const join = (data) => {
    const cid = conversationId(data);
    if (typeof cid === "string" && cid) socket.join(`conversation:${cid}`);
  };
  socket.on("join-conversation", join);
  socket.on("conversation:join", join);
  socket.on("leave-conversation", (data) => socket.leave(`conversation:${conversationId(data)}`));
  socket.on("message:send", (data) => {
    if (!data || typeof data.content !== "string" || !data.conversationId) {
      return socket.emit("message:error", { error: "Failed to send message" });
    }
    const m = {
      id: randomUUID(),
      conversationId: data.conversationId,
      senderId: userId,
      receiverId: data.receiverId ?? null,
      content: data.content,
      messageType: data.messageType || "text",
      createdAt: new Date().toISOString(),
    };
    socket.emit("message:sent", m);
    if (m.receiverId) io.to(`user:${m.receiverId}`).emit("message:received", m);
    io.to(`conversation:${m.conversationId}`).emit("message:new", m);
  });
  socket.on("message:typing", (data) => {
    io.to(`user:${data?.receiverId}`).emit("typing:start", {
      userId,
      conversationId: data?.conversationId,
      isTyping: true,
    });
  });
  socket.on("message:stop_typing", (data) => {
    io.to(`user:${data?.receiverId}`).emit("typing:stop", {
      userId,
      conversationId: data?.conversationId,
      isTyping: false,
    });
  });
  socket.on("disconnect", async () => {
    const left = await io.in(`user:${userId}`).fetchSockets();
    if (left.length === 0) socket.broadcast.emit("user:offline", { userId });
  });
});

http.listen(PORT, "127.0.0.1", () => {
  console.log(`sio-backend listening on 127.0.0.1:${http.address().port}`);
});

for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => {
    io.close();
    process.exit(0);
  });
}
