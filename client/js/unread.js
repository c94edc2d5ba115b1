// An account's unread counts and read markers, which the server keeps so that
// every tab and device shows the same: the counts it sends (Unread after
// connecting, ReadMarker after a MarkRead on any connection), and MarkRead
// when the reader has seen the newest message of a room or conversation (it
// is shown, scrolled to the bottom, in a visible page). A guest's counts stay
// the page's own (messages.js).

import { MARK_READ_MS } from './config.js';
import { request } from './connection.js';
import { ensureDm } from './dms.js';
import { markFirstUnread, mutate, renderEdge } from './messagelist.js';
import { req } from './protocol.js';
import { renderDms, renderRooms, updateTitle } from './render.js';
import { currentConv, lastId, state } from './state.js';
import { lower } from './util.js';

// seenNow: conv is what the reader looks at, down to its newest message.
function seenNow(conv) {
  return conv === currentConv() && state.screen === 'chat' && conv.stick && !document.hidden;
}

// Messages after id on the page that someone else sent: live ones may have
// arrived after the server counted.
function othersAfter(conv, id) {
  let n = 0;
  for (let i = conv.order.length - 1; i >= 0 && conv.order[i] > id; i--) {
    if (!conv.byId.get(conv.order[i])?.classList.contains('own')) n++;
  }
  return n;
}

// setCount takes the server's marker and count for conv (and, for a room,
// the mentions of me among them). fresh: they come with a new connection
// (Unread), so what this page sent before is forgotten.
function setCount(conv, read, unread, fresh, mentions) {
  if (typeof read === 'string' && read > conv.readId) conv.readId = read;
  if (conv.noHistory) {
    // The server counts it: it keeps this conversation after all.
    conv.noHistory = false;
    conv.noMark = false;
    mutate(conv, () => renderEdge(conv));
  }
  if (fresh) {
    conv.markSent = '';
    conv.markWant = '';
  }
  const n = Math.max(0, Math.floor(Number(unread) || 0));
  // Entering with a new connection (a reload): the "New" line shows where
  // the reader left off in the conversation they are looking at.
  if (fresh && n > 0 && conv === currentConv()) mutate(conv, () => markFirstUnread(conv, n));
  conv.unread = seenNow(conv) ? 0 : Math.max(n, conv.readId ? othersAfter(conv, conv.readId) : 0);
  if (mentions !== undefined) conv.mentions = seenNow(conv) ? 0 : Math.max(0, Math.floor(Number(mentions) || 0));
}

function roomConv(name) {
  const room = typeof name === 'string' ? state.rooms.get(name) : null;
  return room && room.joined && room.conv ? room.conv : null;
}

// A conversation the page does not show yet is added when it has something unread.
function dmConv(user, unread) {
  if (typeof user !== 'string' || !user) return null;
  const dm = state.dms.get(lower(user)) || (Number(unread) > 0 ? ensureDm(user) : null);
  return dm ? dm.conv : null;
}

function redraw() {
  renderRooms();
  renderDms();
  updateTitle();
}

// Unread{rooms, conversations}: once per connection, after the rooms' history.
export function onUnread(f) {
  if (!state.account) return;
  for (const r of Array.isArray(f.rooms) ? f.rooms : []) {
    const conv = r && roomConv(r.room);
    if (conv) setCount(conv, r.read, r.unread, true, r.mentions || 0); // omitted when 0
  }
  for (const c of Array.isArray(f.conversations) ? f.conversations : []) {
    const conv = c && dmConv(c.with, c.unread);
    if (conv) setCount(conv, c.read, c.unread, true);
  }
  state.markersReady = true;
  redraw();
  maybeMarkRead(currentConv());
}

// ReadMarker{room | with, id, unread}: this or another connection of the
// account marked something read.
export function onReadMarker(f) {
  if (!state.account) return;
  const conv = typeof f.with === 'string' ? dmConv(f.with, f.unread) : roomConv(f.room);
  if (!conv) return;
  setCount(conv, f.id, f.unread, false, typeof f.room === 'string' ? f.mentions || 0 : undefined);
  redraw();
  maybeMarkRead(conv);
}

// The count of one conversation from the Conversations list.
export function setConversationCount(conv, read, unread) {
  setCount(conv, read, unread, false);
}

// maybeMarkRead tells the server, at most once per MARK_READ_MS per
// conversation, that the reader has seen conv's newest message. live: a
// message just arrived, which counts as seen only in a focused window.
export function maybeMarkRead(conv, live = false) {
  if (!state.account || !state.ready || !state.markersReady || !conv || conv.noMark) return;
  if (conv.kind !== 'room' && conv.kind !== 'dm') return;
  if (!seenNow(conv) || (live && !document.hasFocus())) return;
  const id = lastId(conv);
  if (!id || id <= conv.readId || id <= conv.markSent || id <= conv.markWant) return;
  conv.markWant = id;
  if (conv.markTimer) return;
  const wait = Math.max(0, conv.markAt + MARK_READ_MS - Date.now());
  conv.markTimer = setTimeout(() => sendMark(conv), wait);
}

function sendMark(conv) {
  conv.markTimer = null;
  const id = conv.markWant;
  conv.markWant = '';
  if (!id || id <= conv.readId || id <= conv.markSent || !state.ready) return;
  let targetOf;
  if (conv.kind === 'room') {
    const room = state.rooms.get(conv.key);
    if (!room || room.conv !== conv || !room.live) return;
    targetOf = { room: conv.key };
  } else {
    const dm = state.dms.get(conv.key);
    if (!dm || dm.conv !== conv) return;
    targetOf = { with: dm.user };
  }
  if (request(req.markRead(targetOf, id), { kind: 'mark', conv })) {
    conv.markSent = id;
    conv.markAt = Date.now();
  }
}

// The Error reply to a MarkRead. no_such_user for a private conversation:
// the server keeps none with that person (a guest), so it is not marked
// again, and says so. A ReadMarker or the Conversations list for it later
// would show otherwise, and undo this.
export function onMarkError(meta, f) {
  const conv = meta.conv;
  if (f.code !== 'no_such_user' || !conv || conv.kind !== 'dm') return;
  conv.noMark = true;
  conv.noHistory = true;
  mutate(conv, () => renderEdge(conv));
}
