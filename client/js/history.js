// A room's history: the page on joining, catching up after a reconnect
// (a re-join with `since` = the last id held, then paging back until the gap
// is closed), and older pages as the reader scrolls up.

import { GAP_PAGE, HISTORY_PAGE } from './config.js';
import { request, takeRef } from './connection.js';
import { dom } from './dom.js';
import { mutate, notice, renderEdge } from './messagelist.js';
import { placeMessage } from './messages.js';
import { req } from './protocol.js';
import { currentConv, state } from './state.js';

export function onHistory(f) {
  const meta = takeRef(f.ref);
  const room = state.rooms.get(f.room);
  if (!room || !room.joined || !room.conv) return;
  const conv = room.conv;
  const msgs = (Array.isArray(f.messages) ? f.messages : []).filter((m) => m && typeof m.id === 'string');
  const add = (unread) => mutate(conv, () => {
    for (const m of msgs) placeMessage(conv, { id: m.id, user: m.username, content: m.content, ts: m.timestamp, nonce: m.nonce }, { unread });
  });

  if (meta && meta.kind === 'older') {
    conv.loadingOlder = false;
    conv.hasOlder = !!f.truncated && msgs.length > 0;
    mutate(conv, () => { add(false); renderEdge(conv); });
  } else if (meta && meta.kind === 'gap') {
    add(true);
    continueGap(room, meta.since, msgs, f.truncated);
  } else if (room.joinReq && (!f.ref || f.ref === room.joinReq.ref || !meta)) {
    const since = room.joinReq.since;
    room.joinReq = null;
    if (since) {
      add(true); // what we missed while disconnected
      continueGap(room, since, msgs, f.truncated);
    } else {
      add(false);
      conv.hasOlder = !!f.truncated;
      conv.historyLoaded = true;
      mutate(conv, () => renderEdge(conv));
    }
  } else {
    add(false);
  }
  maybeFill(conv);
}

// The Error reply to a History request (meta.kind 'older' or 'gap').
export function onHistoryError(meta, text) {
  if (meta.kind === 'gap') {
    notice(`Some missed messages could not be loaded: ${text}`, 'error');
    return;
  }
  const room = state.rooms.get(meta.room);
  if (room && room.conv) {
    room.conv.loadingOlder = false;
    mutate(room.conv, () => renderEdge(room.conv));
  }
  notice(`Could not load older messages: ${text}`, 'error');
}

// A re-join with `since` returns the newest (at most 1000) messages after it;
// when truncated, page back with `before` until we meet `since`.
function continueGap(room, since, msgs, truncated) {
  if (!truncated || !msgs.length || msgs[0].id <= since) return;
  request(req.history(room.name, msgs[0].id, GAP_PAGE), { kind: 'gap', room: room.name, since });
}

export function loadOlder(conv) {
  if (conv.kind !== 'room' || !conv.hasOlder || conv.loadingOlder || !conv.order.length) return;
  const room = state.rooms.get(conv.key);
  if (!room || !room.live || !state.ready) return;
  if (request(req.history(room.name, conv.order[0], HISTORY_PAGE), { kind: 'older', room: room.name })) {
    conv.loadingOlder = true;
    mutate(conv, () => renderEdge(conv));
  }
}

// If the history does not fill the view there is nothing to scroll (or the
// user is still at the top after a short page): fetch more.
export function maybeFill(conv) {
  if (conv !== currentConv()) return;
  const l = dom.messageList;
  if (l.scrollHeight <= l.clientHeight + 40 || (!conv.stick && l.scrollTop < 300)) loadOlder(conv);
}
