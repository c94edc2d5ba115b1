// Rooms: joining (from /join, the sidebar or the create box, and again
// after a guest's reconnect), leaving, an account's rooms as the server
// keeps them (Joined, Left: the same in every tab), the list of all rooms,
// members coming and going, and what the server says in a room.

import {
  DEFAULT_ROOM, PRESENCE_GRACE_MS, ROOM_RE, STORE_VIEW,
} from './config.js';
import { conn, request, takeRef } from './connection.js';
import { dom } from './dom.js';
import { renameDm } from './dms.js';
import { mutate, newConv, notice, requireReady } from './messagelist.js';
import { dropPending, flushPending, markFailed, placeMessage } from './messages.js';
import { notifyRoomMessage } from './notify.js';
import { req } from './protocol.js';
import { renderHeader, renderMembers, renderRooms, updateTitle } from './render.js';
import {
  currentConv, currentRoomName, ensureRoom, fallbackView, joinedRooms, lastId, saveRooms, state,
} from './state.js';
import {
  lower, normalizeRoom, readStore, sameName,
} from './util.js';
import { setView } from './view.js';

// opts: {switchTo} to show the room once joined; {rejoin, since} after a reconnect.
export function requestJoin(name, opts) {
  const room = ensureRoom(name);
  const ref = request(req.joinRoom(name, opts.since), { kind: 'join', room: name, ...opts });
  if (ref) room.joinReq = { ref, since: opts.since };
  return ref;
}

// Why input cannot name a room, in plain words; '' when it can.
function roomNameProblem(input) {
  return ROOM_RE.test(normalizeRoom(input)) ? '' : `“${input}” is not a valid room name: use 1–64 of a–z, 0–9, “_” or “-”.`;
}

// /join, the sidebar. opts.box: the create-room box asked, so a refusal is
// told next to it rather than in the conversation.
export function openRoom(input, opts = {}) {
  const name = normalizeRoom(input);
  const problem = roomNameProblem(input);
  if (problem) {
    if (opts.box) setRoomBoxError(problem); else notice(problem, 'error');
    return false;
  }
  const room = state.rooms.get(name);
  if (room && room.joined) {
    setView({ kind: 'room', key: name });
    return true;
  }
  if (!state.ready && opts.box) {
    setRoomBoxError('Not connected right now. Try again when the banner at the top is gone.');
    return false;
  }
  if (!requireReady()) return false;
  requestJoin(name, { switchTo: true, box: !!opts.box });
  return true;
}

// The create-room box's own error line (empty clears it).
export function setRoomBoxError(text) {
  dom.newRoomError.textContent = text;
  dom.newRoomInput.setAttribute('aria-invalid', text ? 'true' : 'false');
}

export function onRoomBoxSubmit(ev) {
  ev.preventDefault();
  const v = dom.newRoomInput.value.trim();
  if (!v) return;
  if (openRoom(v, { box: true })) {
    dom.newRoomInput.value = '';
    setRoomBoxError('');
  }
}

export function onJoinAck(meta, f) {
  const name = f.room || meta.room;
  const room = ensureRoom(name);
  room.joined = true;
  room.live = true;
  if (!room.conv) room.conv = newConv('room', name);
  saveRooms();
  if (meta.switchTo) setView({ kind: 'room', key: name });
  renderRooms();
  flushPending((p) => p.kind === 'room' && p.target === name);
  if (!meta.rejoin) requestRoomList(false);
}

export function onJoinError(meta, f) {
  const room = state.rooms.get(meta.room);
  if (room) room.joinReq = null;
  const text = `Could not join #${meta.room}: ${f.message || f.code}`;
  if (meta.box) setRoomBoxError(text); else notice(text, 'error');
  if (meta.rejoin && room) {
    for (const p of state.pending.values()) {
      if (p.kind === 'room' && p.target === room.name && p.status === 'pending') markFailed(p, f.code, 'could not re-join the room');
    }
  }
}

export function leaveRoom(input) {
  const name = normalizeRoom(input);
  const room = state.rooms.get(name);
  if (!room || !room.joined) {
    notice(`You are not in #${name}.`, 'error');
    return false;
  }
  if (!requireReady()) return false;
  request(req.leaveRoom(name), { kind: 'leave', room: name });
  return true;
}

export function onLeaveAck(meta, f) {
  const room = state.rooms.get(f.room || meta.room);
  if (!room) return;
  dropRoom(room);
  requestRoomList(false);
}

function dropRoom(room) {
  dropPending(room.conv);
  if (room.conv) clearTimeout(room.conv.markTimer);
  room.joined = false;
  room.live = false;
  room.conv = null; // re-joining later starts from fresh history
  for (const timer of room.leaving.values()) clearTimeout(timer);
  room.leaving.clear();
  room.members = [];
  room.sync = null;
  saveRooms();
  if (currentRoomName() === room.name) setView(fallbackView());
  renderRooms();
  updateTitle();
}

// ---- an account's rooms

// Joined{rooms}: after the Welcome, every room the account is in (this
// connection is in them already); later, a room another of its connections
// joined. Each room's History and Members follow, without a ref.
export function onJoined(f) {
  if (!state.account) return;
  const names = (Array.isArray(f.rooms) ? f.rooms : []).filter((n) => typeof n === 'string' && ROOM_RE.test(n));
  const first = state.awaitJoined;
  state.awaitJoined = false;
  for (const name of names) {
    const room = ensureRoom(name);
    room.joined = true;
    room.live = true;
    if (!room.conv) room.conv = newConv('room', name);
    room.sync = { since: lastId(room.conv) };
  }
  if (first) {
    // The whole list: rooms left elsewhere while this page was away go.
    const listed = new Set(names);
    for (const room of joinedRooms()) if (!listed.has(room.name)) dropRoom(room);
    if (!names.length && !state.initialJoinDone) requestJoin(DEFAULT_ROOM, { switchTo: true });
    state.initialJoinDone = true;
    if (names.length && !state.view) setView({ kind: 'room', key: firstView(names) });
  }
  saveRooms();
  renderRooms();
  const joined = new Set(names);
  flushPending((p) => p.kind === 'room' && joined.has(p.target));
}

// The room a new page shows first: the one this tab showed before a reload, else the default.
function firstView(names) {
  const saved = readStore(sessionStorage, STORE_VIEW);
  if (names.includes(saved)) return saved;
  return names.includes(DEFAULT_ROOM) ? DEFAULT_ROOM : [...names].sort()[0];
}

// Left{room}: another connection of the account left it.
export function onLeft(f) {
  const room = state.account && typeof f.room === 'string' ? state.rooms.get(f.room) : null;
  if (!room || !room.joined) return;
  const shown = currentRoomName() === room.name;
  dropRoom(room);
  if (shown) notice(`You left #${room.name} in another window.`);
  requestRoomList(false);
}

// print: show the list in the conversation (/rooms), not only in the
// sidebar. prefix: only the rooms whose names start with it (printed, and
// the sidebar left as it is).
export function requestRoomList(print, prefix) {
  if (!conn.socketOpen) return false;
  request(req.listRooms(prefix), { kind: 'rooms', print, prefix });
  return true;
}

export function onRoomList(f) {
  const meta = takeRef(f.ref);
  const list = Array.isArray(f.rooms) ? f.rooms : [];
  const total = Number(f.total) || list.length;
  if (meta && meta.prefix) {
    const line = list.map((r) => `#${r.name} (${r.members})`).join('  ·  ');
    const more = f.truncated ? ` (the ${list.length} busiest of ${total})` : '';
    notice(list.length ? `Rooms starting with “${meta.prefix}”${more}: ${line}.` : `No room starts with “${meta.prefix}”.`);
    return;
  }
  // A server with more rooms than a list holds sends the busiest: say so.
  dom.roomListMore.hidden = !f.truncated;
  dom.roomListMore.textContent = f.truncated ? `${total - list.length} more rooms: /rooms name finds them` : '';
  const seen = new Set();
  for (const info of list) {
    if (!info || typeof info.name !== 'string') continue;
    seen.add(info.name);
    ensureRoom(info.name).count = Number(info.members) || 0;
  }
  for (const [name, room] of state.rooms) {
    if (!seen.has(name) && !room.joined && !room.joinReq) state.rooms.delete(name);
  }
  renderRooms();
  if (meta && meta.print) {
    const line = list.map((r) => `#${r.name} (${r.members})`).join('  ·  ');
    notice(list.length ? `Rooms: ${line}. Click one in the sidebar or type /join name.` : 'No rooms yet.');
  }
}

export function onRoomMessage(f) {
  const room = state.rooms.get(f.room);
  if (!room || !room.joined || !room.conv) return;
  const conv = room.conv;
  mutate(conv, () => placeMessage(conv, {
    id: f.id, user: f.username, content: f.content, ts: f.timestamp, nonce: f.nonce, mentions: f.mentions,
  }, { unread: true }));
  notifyRoomMessage(f);
}

// ---- members

export function onMembers(f) {
  const room = state.rooms.get(f.room);
  if (!room || !room.joined) return;
  room.members = Array.isArray(f.usernames) ? f.usernames.slice() : [];
  membersChanged(room);
}

export function onUserJoined(f) {
  const room = state.rooms.get(f.room);
  if (!room || !room.joined) return;
  if (!room.members.some((u) => sameName(u, f.username))) {
    room.members.push(f.username);
    room.members.sort();
  }
  membersChanged(room);
  if (sameName(f.username, state.username)) return;
  const leaving = room.leaving.get(lower(f.username));
  if (leaving) { // back within the grace: a reload, not a leave and a join
    clearTimeout(leaving);
    room.leaving.delete(lower(f.username));
    return;
  }
  notice(`${f.username} joined #${room.name}.`, 'presence', room.conv);
}

// A leave is told after PRESENCE_GRACE_MS, unless the member is back by then.
export function onUserLeft(f) {
  const room = state.rooms.get(f.room);
  if (!room || !room.joined) return;
  room.members = room.members.filter((u) => !sameName(u, f.username));
  membersChanged(room);
  if (sameName(f.username, state.username)) return;
  const key = lower(f.username);
  clearTimeout(room.leaving.get(key));
  const conv = room.conv;
  room.leaving.set(key, setTimeout(() => {
    room.leaving.delete(key);
    if (room.conv === conv) notice(`${f.username} left #${room.name}.`, 'presence', conv);
  }, PRESENCE_GRACE_MS));
}

function membersChanged(room) {
  room.count = room.members.length;
  renderRooms();
  if (currentRoomName() === room.name) {
    renderMembers();
    renderHeader();
  }
}

// A member's rename: one small event per room the two of us share (never
// the whole list again); an open conversation with them follows too.
export function onUserRenamed(f) {
  if (typeof f.old !== 'string' || typeof f.new !== 'string') return;
  const room = state.rooms.get(f.room);
  if (room && room.joined) {
    room.members = room.members.map((u) => (sameName(u, f.old) ? f.new : u)).sort();
    membersChanged(room);
  }
  renameDm(f.old, f.new);
}

export function onSystem(f) {
  const content = String(f.content ?? '');
  const room = f.room ? state.rooms.get(f.room) : null;
  notice(content, 'server', room && room.conv ? room.conv : currentConv());
}
