// Messages in and out of a conversation. In: a confirmed message (live,
// history, or the echo of our own send) is placed once by id and counted as
// unread where it is not seen. Out: our own sends stay pending, keyed by
// nonce, until the server confirms them; they are resent with the same nonce
// after a reconnect (the server stores a nonce only once), retried on
// transient errors, and otherwise marked failed with Retry and Discard.

import { AUTO_RETRY_MAX, MAX_CONTENT } from './config.js';
import { conn, request } from './connection.js';
import { button, el } from './dom.js';
import { markMentions, mentionsMe } from './mentions.js';
import {
  buildMessage, mutate, notice, placeEl, regroup, removeMessage, setMessageState, setMessageTime,
} from './messagelist.js';
import { fitsInFrame, req } from './protocol.js';
import { setReactions } from './reactions.js';
import { renderDms, renderMarker, renderRooms, updateTitle } from './render.js';
import { currentConv, state } from './state.js';
import { maybeMarkRead } from './unread.js';
import { codePoints, makeNonce, sameName } from './util.js';

// ---- in

// Adds a confirmed message (live, history, or the echo of our own send). Never shows an id twice.
export function placeMessage(conv, m, opts) {
  if (!m.id) return;
  const shown = conv.byId.get(m.id);
  if (shown) {
    // A page read again (a rejoin's History) carries what changed since.
    if (m.deleted || m.editedAt) setMessageState(shown, m);
    if (m.reactions && !m.deleted) setReactions(shown, m.reactions, m.reacted);
    return;
  }
  const p = m.nonce ? state.pending.get(m.nonce) : null;
  if (p && p.conv === conv && !p.id) {
    p.id = m.id;
    p.el.dataset.id = m.id;
    setMessageTime(p.el, m.ts);
    markMentions(p.el, m.mentions);
    placeEl(conv, p.el, m.id);
    if (p.status === 'failed') markSent(p); // it got through after all
    return;
  }
  const own = sameName(m.user, state.username);
  const node = buildMessage({ ...m, own, editable: own, reactable: conv.kind === 'room' });
  const atEnd = placeEl(conv, node, m.id);
  if (opts.unread && !own) noteUnread(conv, atEnd, mentionsMe(m.mentions));
}

function noteUnread(conv, atEnd, mention) {
  const current = conv === currentConv() && state.screen === 'chat';
  if (!current) {
    conv.unread++;
    if (mention) conv.mentions = (conv.mentions || 0) + 1;
    if (conv.kind === 'room') renderRooms(); else renderDms();
  } else if (!conv.stick && atEnd) {
    conv.newBelow = true;
    conv.below++; // the marker's count
    renderMarker();
  } else if (atEnd) {
    maybeMarkRead(conv, true);
  }
  // What arrives in the open conversation of a hidden page counts toward
  // the title too (another conversation's count already does).
  if (document.hidden && current) state.hiddenUnread++;
  updateTitle();
}

// ---- out

function messageFrame(kind, target, to, content, nonce) {
  return kind === 'room' ? req.sendMessage(target, content, nonce) : req.privateMessage(to, content, nonce);
}

// Sends text to the current conversation. Returns whether it was accepted
// (the composer is then cleared).
export function sendChat(text) {
  const view = state.view;
  if (!view) {
    notice('Join a room first: click one on the left or type /join name.', 'error');
    return false;
  }
  const content = text.replace(/^\n+/, '').trimEnd();
  if (!content.trim()) return false;
  if (codePoints(content) > MAX_CONTENT) {
    notice(`That message is ${codePoints(content)} characters long; the limit is ${MAX_CONTENT}.`, 'error');
    return false;
  }
  const conv = currentConv();
  const target = view.key;
  const to = view.kind === 'dm' ? state.dms.get(target).user : null;
  const nonce = makeNonce();
  if (!fitsInFrame(messageFrame(view.kind, target, to, content, nonce))) {
    notice('That message is too large to send; please shorten it.', 'error');
    return false;
  }
  const node = buildMessage({ user: state.username || 'you', content, own: true, editable: true, reactable: view.kind === 'room' });
  node.classList.add('pending', 'unplaced');
  node.dataset.nonce = nonce;
  const p = {
    nonce, conv, kind: view.kind, target, to, content, el: node,
    status: 'pending', id: null, sentOn: 0, resent: false, autoRetries: 0, retryTimer: null,
  };
  state.pending.set(nonce, p);
  conv.stick = true; // your own message always brings you to the bottom
  mutate(conv, () => {
    conv.el.append(node);
    regroup(node);
  });
  conv.newBelow = false;
  renderMarker();
  setStatusText(p);
  transmit(p);
  return true;
}

function canTransmit(p) {
  if (!state.ready) return false;
  if (p.kind === 'dm') return true;
  const room = state.rooms.get(p.target);
  return !!room && room.live;
}

// Sends (or resends, with the same nonce: the server stores it only once) a pending message.
function transmit(p) {
  if (p.status !== 'pending' || p.sentOn === conn.connId || !canTransmit(p)) return;
  if (request(messageFrame(p.kind, p.target, p.to, p.content, p.nonce), { kind: 'send', nonce: p.nonce })) {
    if (p.sentOn) p.resent = true;
    p.sentOn = conn.connId;
    setStatusText(p);
  }
}

export function flushPending(filter) {
  for (const p of state.pending.values()) if (filter(p)) transmit(p);
}

export function onSendAck(meta, f) {
  const p = state.pending.get(meta.nonce);
  if (!p) return;
  if (f.id && !p.id) {
    const other = p.conv.byId.get(f.id);
    p.id = f.id;
    p.el.dataset.id = f.id;
    if (f.timestamp) setMessageTime(p.el, f.timestamp);
    if (other && other !== p.el) {
      // The message arrived without its nonce: keep that copy, drop ours.
      mutate(p.conv, () => removeMessage(p.el));
      other.classList.add('own');
      p.el = other;
    } else if (!other) {
      mutate(p.conv, () => placeEl(p.conv, p.el, f.id));
    }
  }
  markSent(p);
}

export function onSendError(meta, f) {
  const p = state.pending.get(meta.nonce);
  if (!p) return;
  const transient = f.code === 'rate_limited' || f.code === 'server_busy' ||
    (f.code === 'no_such_user' && p.resent); // the other person may not have reconnected yet
  if (transient && p.autoRetries < AUTO_RETRY_MAX) {
    p.autoRetries++;
    p.sentOn = 0;
    clearTimeout(p.retryTimer);
    p.retryTimer = setTimeout(() => transmit(p), 1000 * 2 ** p.autoRetries);
    return;
  }
  // The text stays in its bubble, with Retry and Discard; it is not copied
  // back into the composer as well (one place to act on it).
  markFailed(p, f.code, f.message || f.code);
}

function setStatusText(p) {
  const s = p.el.querySelector(':scope > .msg-status');
  if (!s) return;
  const queued = p.status === 'pending' && p.sentOn !== conn.connId;
  s.textContent = p.status === 'pending' ? (queued ? 'queued' : 'sending…') : p.status === 'failed' ? 'not sent' : '';
  s.title = queued ? 'Will be sent as soon as the connection is back' : '';
}

// Redraws every pending message's status: after a drop, "sending…" becomes "queued".
export function refreshPendingStatus() {
  for (const p of state.pending.values()) setStatusText(p);
}

function markSent(p) {
  clearTimeout(p.retryTimer);
  p.status = 'sent';
  state.pending.delete(p.nonce);
  const node = p.el;
  mutate(p.conv, () => {
    node.classList.remove('pending', 'failed');
    node.classList.add('sent');
    const err = node.querySelector(':scope > .msg-error');
    if (err) err.remove();
    setStatusText(p);
    regroup(node.nextElementSibling);
  });
}

export function markFailed(p, code, message) {
  clearTimeout(p.retryTimer);
  p.status = 'failed';
  const node = p.el;
  mutate(p.conv, () => {
    node.classList.remove('pending', 'sent');
    node.classList.add('failed');
    let err = node.querySelector(':scope > .msg-error');
    if (!err) {
      err = el('div', 'msg-error');
      err.setAttribute('role', 'alert');
      node.append(err);
    }
    const retry = button('link-button', 'Retry');
    retry.dataset.action = 'retry';
    const discard = button('link-button', 'Discard');
    discard.dataset.action = 'discard';
    err.replaceChildren(el('span', 'msg-error-text', `Not sent: ${message}`), retry, discard);
    err.dataset.code = code || '';
    setStatusText(p);
    regroup(node.nextElementSibling);
  });
}

export function retryPending(nonce) {
  const p = state.pending.get(nonce);
  if (!p || p.status !== 'failed') return;
  p.status = 'pending';
  p.sentOn = 0;
  p.autoRetries = 0;
  mutate(p.conv, () => {
    p.el.classList.remove('failed');
    p.el.classList.add('pending');
    const err = p.el.querySelector(':scope > .msg-error');
    if (err) err.remove();
    setStatusText(p);
    regroup(p.el.nextElementSibling);
  });
  transmit(p);
}

export function discardPending(nonce) {
  const p = state.pending.get(nonce);
  if (!p) return;
  clearTimeout(p.retryTimer);
  state.pending.delete(nonce);
  mutate(p.conv, () => {
    if (p.id) {
      p.conv.byId.delete(p.id);
      p.conv.order = p.conv.order.filter((x) => x !== p.id);
    }
    removeMessage(p.el);
  });
}

// Forgets the pending sends of a conversation that is closing.
export function dropPending(conv) {
  if (!conv) return;
  for (const p of [...state.pending.values()]) {
    if (p.conv === conv) {
      clearTimeout(p.retryTimer);
      state.pending.delete(p.nonce);
    }
  }
}
