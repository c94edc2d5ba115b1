// History: a room's page on joining (or after an account's Joined), catching
// up after a reconnect (paging back from the newest page until the last id
// held is reached), older pages as the reader scrolls up, and, for an
// account, the same for its private conversations (History{with}), which the
// server keeps.

import { GAP_PAGE, HISTORY_PAGE } from './config.js';
import { request, takeRef } from './connection.js';
import { noteLast } from './dms.js';
import { dom } from './dom.js';
import {
  markFirstUnread, mutate, notice, renderEdge,
} from './messagelist.js';
import { placeMessage } from './messages.js';
import { req } from './protocol.js';
import { renderDms } from './render.js';
import { currentConv, lastId, state } from './state.js';
import { maybeMarkRead } from './unread.js';

// A History request's meta names its conversation ({conv: 'room'|'dm', key})
// and holds the conv itself, so that a late reply to a closed one is dropped.
function target(conv) {
  return { conv: conv.kind, key: conv.key, c: conv };
}

function convOfMeta(meta) {
  const c = meta.conv === 'room' ? state.rooms.get(meta.key)?.conv : state.dms.get(meta.key)?.conv;
  return c && c === meta.c ? c : null;
}

function historyRequest(conv, before, limit, since) {
  if (conv.kind === 'room') return req.history(conv.key, before, limit);
  const dm = state.dms.get(conv.key);
  return dm ? req.historyWith(dm.user, before, limit, since) : null;
}

// Called with the conversation after each of its History pages is placed
// (or failed): search.js's jump to a message goes on from there.
export const afterPage = [];

const asRoomMessage = (m) => ({
  id: m.id, user: m.username, content: m.content, ts: m.timestamp, nonce: m.nonce, editedAt: m.edited_at, deleted: m.deleted === true,
  mentions: m.mentions, reactions: m.reactions || {}, reacted: m.reacted || [],
});
const asPrivateMessage = (m) => ({
  id: m.id, user: m.from, content: m.content, ts: m.timestamp, nonce: m.nonce, editedAt: m.edited_at, deleted: m.deleted === true,
});

export function onHistory(f) {
  const meta = takeRef(f.ref);
  let conv = null;
  if (meta && meta.conv) {
    conv = convOfMeta(meta);
  } else if (typeof f.room === 'string') {
    const room = state.rooms.get(f.room);
    conv = room && room.joined ? room.conv : null;
  }
  if (!conv) return;
  const dm = conv.kind === 'dm';
  const msgs = (Array.isArray(f.messages) ? f.messages : []).filter((m) => m && typeof m.id === 'string');
  const add = (unread) => mutate(conv, () => {
    for (const m of msgs) placeMessage(conv, dm ? asPrivateMessage(m) : asRoomMessage(m), { unread });
  });
  // An account's unread counts are the server's (Unread, ReadMarker): what a
  // page of history brings is already counted there.
  const counted = !state.account;

  if (meta && meta.kind === 'older') {
    conv.loadingOlder = false;
    conv.hasOlder = !!f.truncated && msgs.length > 0;
    mutate(conv, () => { add(false); renderEdge(conv); });
  } else if (meta && meta.kind === 'gap') {
    add(counted);
    continueGap(conv, meta.since, msgs, f.truncated);
  } else if (meta && meta.kind === 'first') {
    conv.loadingFirst = false;
    firstPage(conv, meta.since, msgs, f.truncated, counted, add);
  } else if (!dm) {
    // The reply to our JoinRoom (its ref; the Ack took the meta), or, without
    // a ref, the page that follows an account's Joined.
    const room = state.rooms.get(conv.key);
    let first = null;
    if (f.ref && room.joinReq && f.ref === room.joinReq.ref) {
      first = room.joinReq;
      room.joinReq = null;
    } else if (!f.ref && room.sync) {
      first = room.sync;
      room.sync = null;
    }
    if (first) firstPage(conv, first.since, msgs, f.truncated, counted, add); else add(false);
  } else {
    add(false);
  }
  if (dm && msgs.length) {
    const m = msgs[msgs.length - 1];
    noteLast(state.dms.get(conv.key), { id: m.id, from: m.from, content: m.content, deleted: m.deleted });
    renderDms();
  }
  maybeFill(conv);
  maybeMarkRead(conv);
  for (const fn of afterPage) fn(conv);
}

// The newest page of a conversation. With since (the last id this page held
// before), it closes the gap after it; without, it is the start of the view.
function firstPage(conv, since, msgs, truncated, counted, add) {
  if (since) {
    add(counted); // what we missed while disconnected
    continueGap(conv, since, msgs, truncated);
    return;
  }
  add(false);
  conv.hasOlder = !!truncated && msgs.length > 0;
  conv.historyLoaded = true;
  mutate(conv, () => {
    renderEdge(conv);
    if (conv.newOnLoad) markFirstUnread(conv, conv.newOnLoad); // opened with this much unread (view.js)
    conv.newOnLoad = 0;
  });
}

// The Error reply to a History request (meta.kind 'older', 'gap' or 'first').
export function onHistoryError(meta, f) {
  const text = f.message || f.code || 'error';
  const conv = convOfMeta(meta);
  if (meta.kind === 'gap') {
    notice(`Some missed messages could not be loaded: ${text}`, 'error', conv || undefined);
    return;
  }
  if (!conv) return;
  if (meta.kind === 'first') {
    conv.loadingFirst = false;
    mutate(conv, () => renderEdge(conv));
    notice(`Could not load the conversation: ${text}`, 'error', conv);
    return;
  }
  conv.loadingOlder = false;
  mutate(conv, () => renderEdge(conv));
  notice(`Could not load older messages: ${text}`, 'error', conv);
  for (const fn of afterPage) fn(conv);
}

// A re-join with `since` returns the newest (at most 1000) messages after it,
// an account's Joined or History{with} the newest 50: when truncated, page
// back with `before` until we meet `since`.
function continueGap(conv, since, msgs, truncated) {
  if (!truncated || !msgs.length || msgs[0].id <= since) return;
  const r = historyRequest(conv, msgs[0].id, GAP_PAGE);
  if (r) request(r, { kind: 'gap', since, ...target(conv) });
}

// loadConversation asks for the newest page of an account's private
// conversation: when it is opened, and again after a reconnect (since = the
// last id held, to fill what was missed; the server follows the page with
// the edits and deletions of what we held, edits.js applies them).
export function loadConversation(conv) {
  if (!state.account || !state.ready || conv.kind !== 'dm' || conv.loadingFirst || conv.noHistory) return;
  const since = conv.historyLoaded ? lastId(conv) : undefined;
  const r = historyRequest(conv, undefined, HISTORY_PAGE, since);
  if (r && request(r, { kind: 'first', since, ...target(conv) })) {
    conv.loadingFirst = !conv.historyLoaded;
    mutate(conv, () => renderEdge(conv));
  }
}

// After an account's reconnect: catch up on the conversations this page holds.
export function resyncConversations() {
  for (const dm of state.dms.values()) {
    dm.conv.loadingFirst = false;
    dm.conv.loadingOlder = false;
    if (dm.conv.historyLoaded || dm.conv === currentConv()) loadConversation(dm.conv);
  }
}

// loadOlder asks for the page before the oldest message held (limit
// messages); it reports whether it did.
export function loadOlder(conv, limit = HISTORY_PAGE) {
  if (!conv.hasOlder || conv.loadingOlder || !conv.order.length || !state.ready) return false;
  if (conv.kind === 'room') {
    const room = state.rooms.get(conv.key);
    if (!room || !room.live) return false;
  } else if (conv.kind !== 'dm' || !state.account) {
    return false;
  }
  const r = historyRequest(conv, conv.order[0], limit);
  if (r && request(r, { kind: 'older', ...target(conv) })) {
    conv.loadingOlder = true;
    mutate(conv, () => renderEdge(conv));
    return true;
  }
  return false;
}

// If the history does not fill the view there is nothing to scroll (or the
// user is still at the top after a short page): fetch more.
export function maybeFill(conv) {
  if (conv !== currentConv()) return;
  const l = dom.messageList;
  if (l.scrollHeight <= l.clientHeight + 40 || (!conv.stick && l.scrollTop < 300)) loadOlder(conv);
}
