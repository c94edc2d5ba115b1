// The WebSocket: opening it, reconnecting with backoff, pacing what goes out
// under the server's rate limit, numbering requests so that their replies
// can be matched, and handing each server object to its handler. It knows
// nothing of rooms or names: what a dropped connection means for the chat is
// the onDrop hook's business (session.js), what a refused or ended session
// means is account.js's (the onRefused and onEnded hooks).

import {
  BACKOFF_BASE_MS, BACKOFF_MAX_MS, BUCKET_REFILL_PER_MS, BUCKET_SIZE,
} from './config.js';
import { SUBPROTOCOL, decodeFrames } from './protocol.js';

// The connection's state: written only by this module, read by the others.
export const conn = {
  ws: null,
  connId: 0, // increases with every socket opened: tells a resend from a first send
  socketOpen: false,
  stopped: false, // stop() was called: nothing reconnects until connect() is called again
  reconnect: { attempt: 0, timer: null, at: 0, tick: null, openedAt: 0, reason: '' },
};

const refs = new Map(); // ref -> what the request was, for matching its reply
let nextRef = 1;
const outbox = [];
let tokens = BUCKET_SIZE;
let tokensAt = 0;
let drainTimer = null;

// Set once by app.js before connect():
//   handlers  server object type -> function(frame)
//   onStatus  the connection changed (the banner redraws)
//   onDrop    the socket closed: replies to its requests will never come
//   onRefused the socket closed before it opened (server down, or the upgrade refused)
//   onEnded   the server ended our session (1008 "session ended"): no reconnect
let hooks = { handlers: {}, onStatus() {}, onDrop() {}, onRefused() {}, onEnded() {} };

export function setHooks(h) {
  hooks = h;
}

function wsUrl() {
  const u = new URL('/ws', location.href);
  u.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  u.search = '';
  u.hash = '';
  return u.href;
}

export function connect() {
  const r = conn.reconnect;
  clearTimeout(r.timer);
  clearInterval(r.tick);
  r.timer = null;
  r.tick = null;
  conn.stopped = false;
  if (conn.ws) return;
  let ws;
  try {
    ws = new WebSocket(wsUrl(), [SUBPROTOCOL]);
  } catch (err) {
    console.error('parley: cannot open WebSocket', err);
    scheduleReconnect({ code: 0 });
    return;
  }
  const id = ++conn.connId;
  conn.ws = ws;
  ws.onopen = () => {
    if (id !== conn.connId) return;
    conn.socketOpen = true;
    r.openedAt = Date.now();
    tokens = BUCKET_SIZE;
    tokensAt = performance.now();
    hooks.onStatus();
  };
  ws.onmessage = (ev) => { if (id === conn.connId) onData(ev.data, ws.protocol); };
  ws.onclose = (ev) => { if (id === conn.connId) onClose(ev); };
  ws.onerror = () => { /* a close event always follows */ };
  hooks.onStatus();
}

function onClose(ev) {
  const r = conn.reconnect;
  const stayedUp = r.openedAt && Date.now() - r.openedAt > 5000;
  const opened = conn.socketOpen;
  dropSocket();
  if (stayedUp) r.attempt = 0;
  hooks.onDrop();
  if (ev.code === 1008 && ev.reason === 'session ended') {
    // Reconnecting would only be refused (401): we are signed out.
    conn.stopped = true;
    hooks.onStatus();
    hooks.onEnded();
    return;
  }
  scheduleReconnect(ev);
  if (!opened) hooks.onRefused();
}

function dropSocket() {
  conn.ws = null;
  conn.socketOpen = false;
  conn.reconnect.openedAt = 0;
  refs.clear(); // replies to this connection's requests will never come
  outbox.length = 0;
  clearTimeout(drainTimer);
}

// stop closes the socket, if any, and reconnects no more until connect():
// signing out, or a server that refuses our upgrades.
export function stop() {
  const r = conn.reconnect;
  clearTimeout(r.timer);
  clearInterval(r.tick);
  r.timer = null;
  r.tick = null;
  r.attempt = 0;
  conn.stopped = true;
  const ws = conn.ws;
  if (ws) {
    conn.connId++; // its close event is no longer ours
    dropSocket();
    try { ws.close(1000); } catch { /* already closing */ }
    hooks.onDrop();
  }
  hooks.onStatus();
}

function closeReason(code) {
  switch (code) {
    case 1001: return 'The server is restarting.';
    case 1008: return 'The server closed the connection.';
    case 1009: return 'A message was too large for the server.';
    case 1013: return 'The server is busy.';
    default: return 'Connection lost.';
  }
}

function scheduleReconnect(ev) {
  const r = conn.reconnect;
  // Exponential backoff with jitter: anywhere in [cap/2, cap), so that many
  // clients dropped at once (a server restart) do not come back in lockstep.
  const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** r.attempt);
  let delay = cap / 2 + Math.random() * (cap / 2);
  if (ev.code === 1008 || ev.code === 1013) delay = Math.max(delay, 5000 + Math.random() * 5000);
  r.attempt = Math.min(r.attempt + 1, 16);
  r.reason = closeReason(ev.code);
  r.at = Date.now() + delay;
  r.timer = setTimeout(connect, delay);
  r.tick = setInterval(() => hooks.onStatus(), 1000);
  hooks.onStatus();
}

export function reconnectNow() {
  if (!conn.ws && !conn.stopped) connect();
}

// Client -> server is always one JSON object per frame. Frames go through a
// small token bucket so bursts (re-joins, resends) stay under the rate limit.
function sendFrame(obj) {
  if (!conn.socketOpen || !conn.ws) return false;
  outbox.push(JSON.stringify(obj));
  drain();
  return true;
}

function drain() {
  clearTimeout(drainTimer);
  drainTimer = null;
  const now = performance.now();
  tokens = Math.min(BUCKET_SIZE, tokens + (now - tokensAt) * BUCKET_REFILL_PER_MS);
  tokensAt = now;
  while (outbox.length && tokens >= 1 && conn.ws) {
    try {
      conn.ws.send(outbox.shift());
    } catch (err) {
      console.warn('parley: send failed', err);
      return; // the close event will follow and reset everything
    }
    tokens -= 1;
  }
  if (outbox.length) {
    drainTimer = setTimeout(drain, Math.ceil((1 - tokens) / BUCKET_REFILL_PER_MS));
  }
}

// Every request carries a ref so that its Ack/Error/History/RoomList can be
// matched; meta is what takeRef gives back for it. Returns the ref, or null
// when the socket is not open (nothing was sent).
export function request(obj, meta) {
  const ref = String(nextRef++);
  if (!sendFrame({ ...obj, ref })) return null;
  refs.set(ref, meta);
  return ref;
}

// Sends obj without a ref: for what the server never answers (Typing).
// Returns whether it went out.
export function notify(obj) {
  return sendFrame(obj);
}

export function takeRef(ref) {
  if (ref == null) return null;
  const meta = refs.get(ref) || null;
  refs.delete(ref);
  return meta;
}

function onData(data, protocol) {
  for (const frame of decodeFrames(data, protocol)) {
    const handler = frame && hooks.handlers[frame.type];
    if (!handler) continue;
    try {
      handler(frame);
    } catch (err) {
      console.error('parley: error handling', frame.type, err);
    }
  }
}
