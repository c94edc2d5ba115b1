// The message list: one conversation's elements (its history edge, messages
// in id order, grouping of consecutive messages, notices) and the scrolling
// rules that keep what the reader looks at in place. A message's look (an
// edited mark, reactions, an attachment) belongs in buildMessage.

import { renderBody } from './attachments.js';
import { GROUP_GAP_MS } from './config.js';
import { avatar, button, dom, el } from './dom.js';
import { fmtDay, fmtFull, fmtTime, parseTime, shortTime } from './format.js';
import { renderMarkdown } from './markdown.js';
import { markMentions } from './mentions.js';
import { reactButton, setReactions } from './reactions.js';
import { currentConv, state } from './state.js';
import { sameName } from './util.js';

export function newConv(kind, key) {
  const root = el('div', 'conv');
  const edge = el('div', 'history-edge');
  root.append(edge);
  const conv = {
    kind, key, el: root, edge, order: [], byId: new Map(), unread: 0,
    hasOlder: false, loadingOlder: false, loadingFirst: false, historyLoaded: false, noHistory: false,
    stick: true, scrollTop: 0, newBelow: false, below: 0,
    readId: '', markWant: '', markSent: '', markAt: 0, markTimer: null, noMark: false,
  };
  renderEdge(conv);
  return conv;
}

// The top of a conversation: a welcome, "loading older", a button to load
// older messages, or the start of the room.
export function renderEdge(conv) {
  const edge = conv.edge;
  edge.replaceChildren();
  if (conv.kind === 'lobby') {
    edge.append(el('p', 'edge-title', 'Welcome to parley'),
      el('p', 'edge-text', 'Pick a room on the left, create one, or type /help for commands.'));
  } else if (conv.kind === 'dm' && !state.account) {
    const dm = state.dms.get(conv.key);
    edge.append(el('p', 'edge-text', `Private conversation with ${dm ? dm.user : conv.key}.`),
      el('p', 'edge-text guest-dm-note', 'As a guest, your private messages are not kept: they are delivered live only and are gone when you reload. Sign in to keep your conversations.'));
  } else if (conv.loadingFirst) {
    edge.append(el('p', 'edge-text', 'Loading the conversation…'));
  } else if (conv.loadingOlder) {
    edge.append(el('p', 'edge-text', 'Loading older messages…'));
  } else if (conv.hasOlder) {
    const b = button('load-older', 'Load older messages');
    b.dataset.action = 'older';
    edge.append(b);
  } else if (conv.kind === 'dm') {
    // An account's conversation: kept by the server, read back by pages.
    const dm = state.dms.get(conv.key);
    const who = dm ? dm.user : conv.key;
    let text = `Private conversation with ${who}.`;
    if (conv.noHistory) text = `Private conversation with ${who}. ${who} has no account, so these messages are delivered live only and not kept.`;
    else if (conv.historyLoaded) text = `This is the beginning of your conversation with ${who}.`;
    edge.append(el('p', 'edge-text', text));
  } else if (conv.historyLoaded) {
    edge.append(el('p', 'edge-text', `This is the beginning of #${conv.key}.`));
  }
}

// ---- scrolling: stick to the bottom unless the user scrolled up; otherwise
// keep whatever they are looking at in place while content changes above it.

export function atBottom() {
  const l = dom.messageList;
  return l.scrollHeight - l.scrollTop - l.clientHeight < 32;
}

export function scrollToBottom() {
  dom.messageList.scrollTop = dom.messageList.scrollHeight;
}

function firstVisibleChild(conv) {
  const kids = conv.el.children;
  const top = dom.messageList.scrollTop;
  let lo = 0;
  let hi = kids.length - 1;
  while (lo < hi) { // children are laid out top to bottom: binary search on offsetTop
    const mid = (lo + hi) >> 1;
    const k = kids[mid];
    if (k.offsetTop + k.offsetHeight <= top) lo = mid + 1; else hi = mid;
  }
  let found = kids[lo] || null;
  // The history edge stays on top while pages are inserted below it, and so
  // does the first message's day separator (or "New" line): anchor on the message.
  while (found && found.nextElementSibling &&
    (found === conv.edge || found.classList.contains('day-separator') || found.classList.contains('new-line'))) {
    found = found.nextElementSibling;
  }
  return found;
}

// Run fn, which changes conv's DOM, without making the view jump.
export function mutate(conv, fn) {
  if (conv !== currentConv() || dom.app.hidden) {
    fn();
    return;
  }
  const list = dom.messageList;
  const stick = conv.stick;
  const anchor = stick ? null : firstVisibleChild(conv);
  const anchorTop = anchor ? anchor.getBoundingClientRect().top : 0;
  fn();
  if (stick) scrollToBottom();
  else if (anchor && anchor.isConnected) list.scrollTop += anchor.getBoundingClientRect().top - anchorTop;
}

// Keeps the bottom in view when the list or its content changes size
// (composer growing, window resize, an error line appearing).
const resizeObserver = new ResizeObserver(() => {
  if (currentConv().stick) scrollToBottom();
});

// Shows conv in the list, watched for size changes.
export function showConv(conv) {
  const list = dom.messageList;
  list.replaceChildren(conv.el);
  resizeObserver.disconnect();
  resizeObserver.observe(list);
  resizeObserver.observe(conv.el);
}

// ---- messages

// A message's text as written (its body shows it formatted): what an edit starts from.
const sources = new WeakMap();
export const sourceOf = (node) => sources.get(node);

// editable: one's own message (a room's or a private one), which gets the Edit and Delete buttons
// (shown on hover or focus, always on touch screens; only once it has an
// id); reactable: a room message, which gets React (reactions.js) and
// Quote (quote.js).
// editedAt and deleted are its state from History (see setMessageState);
// mentions the names it mentions, reactions and reacted its reactions.
export function buildMessage({
  id, user, content, ts, own, editable, reactable, editedAt, deleted, mentions, reactions, reacted,
}) {
  const root = el('div', 'message');
  if (own) root.classList.add('own');
  if (id) root.dataset.id = id;
  root.dataset.user = user;
  const gutter = el('time', 'gutter-time');
  gutter.setAttribute('aria-hidden', 'true');
  const head = el('div', 'msg-head');
  const author = el('span', 'msg-author', user);
  head.append(author, el('time', 'msg-time'));
  if (own) head.append(el('span', 'msg-you', '(you)'));
  let actions = null;
  if (editable || reactable) { // a child of the message, not of its head: a grouped message hides its head
    actions = el('span', 'msg-actions');
    if (reactable) {
      const quote = button('msg-action', 'Quote', 'Quote this message in a reply');
      quote.dataset.action = 'quote';
      actions.append(reactButton(), quote);
    }
    if (editable) {
      const edit = button('msg-action', 'Edit', 'Edit this message');
      edit.dataset.action = 'edit';
      const del = button('msg-action', 'Delete', 'Delete this message');
      del.dataset.action = 'delete';
      actions.append(edit, del);
    }
  }
  const body = el('div', 'msg-body');
  renderBody(body, String(content ?? ''), renderMarkdown);
  sources.set(root, String(content ?? ''));
  const status = el('span', 'msg-status');
  root.append(avatar(user), gutter, head, body, status);
  if (actions) root.append(actions);
  setMessageTime(root, ts);
  markMentions(root, mentions);
  if (editedAt || deleted) setMessageState(root, { content, editedAt, deleted });
  if (reactions && !deleted) setReactions(root, reactions, reacted);
  return root;
}

// Shows a message as edited (its new content, and "(edited)" with the
// time in its title) or as deleted ("message deleted", in its place, with
// no content and no buttons). Ends an edit in progress on it.
export function setMessageState(node, { content, editedAt, deleted }) {
  const body = node.querySelector(':scope > .msg-body');
  for (const x of node.querySelectorAll(':scope > .msg-editor, :scope > .msg-confirm')) x.remove();
  body.hidden = false;
  if (deleted) {
    node.classList.add('deleted');
    node.classList.remove('edited');
    for (const x of node.querySelectorAll(':scope > .msg-actions, :scope > .msg-edited, :scope > .msg-reactions, :scope > .react-picker')) x.remove();
    body.replaceChildren(el('span', 'msg-deleted-text', 'message deleted'));
    sources.delete(node);
    return;
  }
  body.replaceChildren();
  renderBody(body, String(content ?? ''), renderMarkdown);
  sources.set(node, String(content ?? ''));
  markMentions(node); // the names the message was sent with
  if (!editedAt) return;
  node.classList.add('edited');
  let mark = node.querySelector(':scope > .msg-edited');
  if (!mark) { // after the body, not in the head: a grouped message hides its head
    mark = el('span', 'msg-edited', '(edited)');
    body.after(mark);
  }
  const d = parseTime(editedAt);
  mark.title = `edited ${fmtFull.format(d)}`;
}

export function setMessageTime(node, ts) {
  const d = parseTime(ts);
  node.dataset.ts = String(d.getTime());
  for (const t of node.querySelectorAll(':scope > .gutter-time, :scope > .msg-head > .msg-time')) {
    t.dateTime = d.toISOString();
    t.title = fmtFull.format(d);
    t.textContent = t.classList.contains('gutter-time') ? fmtTime.format(d) : shortTime(d);
  }
}

// A message follows on from the one above it (no avatar or name) when the
// same person sent both within GROUP_GAP_MS.
export function regroup(node) {
  if (!node || !node.classList.contains('message')) return;
  syncDay(node);
  const prev = node.previousElementSibling;
  const grouped = !!prev && prev.classList.contains('message') && !prev.classList.contains('failed') &&
    sameName(prev.dataset.user, node.dataset.user) &&
    Math.abs(Number(node.dataset.ts) - Number(prev.dataset.ts)) < GROUP_GAP_MS;
  node.classList.toggle('grouped', grouped);
}

// ---- day separators and the "New" line

const dayKey = (node) => {
  const d = new Date(Number(node.dataset.ts));
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
};

// syncDay keeps the day separator (.day-separator, a local date) right
// before a message (before its "New" line, if it has one) when the message
// above it, if any, is from another day, and takes it away otherwise.
function syncDay(node) {
  let at = node; // what a separator goes right before
  if (at.previousElementSibling?.classList.contains('new-line')) at = at.previousElementSibling;
  const cand = at.previousElementSibling;
  const sep = cand?.classList.contains('day-separator') ? cand : null;
  let prev = (sep || at).previousElementSibling;
  while (prev && !prev.classList.contains('message')) prev = prev.previousElementSibling;
  const day = dayKey(node);
  if (prev && dayKey(prev) === day) {
    if (sep) sep.remove();
    return;
  }
  const d = new Date(Number(node.dataset.ts));
  if (sep) {
    if (sep.dataset.day !== day) {
      sep.dataset.day = day;
      sep.firstChild.textContent = fmtDay.format(d);
    }
    return;
  }
  const line = el('div', 'day-separator'); // no role=separator: its date is read as text
  line.dataset.day = day;
  line.append(el('span', 'day-separator-text', fmtDay.format(d)));
  at.before(line);
}

// removeMessage takes a message element out of its conversation with the
// day separator and "New" line that headed it, and regroups what followed.
export function removeMessage(node) {
  const next = node.nextElementSibling;
  let prev = node.previousElementSibling;
  node.remove();
  while (prev && (prev.classList.contains('new-line') || prev.classList.contains('day-separator'))) {
    const before = prev.previousElementSibling;
    prev.remove();
    prev = before;
  }
  regroup(next); // takes a separator again if it starts a day
}

// markFirstUnread puts the "New" line (.new-line) before the first of the
// last `unread` messages from others, and takes away an older one. Returns
// the line, or null when nothing is unread.
export function markFirstUnread(conv, unread) {
  for (const x of conv.el.querySelectorAll(':scope > .new-line')) {
    const next = x.nextElementSibling;
    x.remove();
    regroup(next);
  }
  let left = unread;
  let first = null;
  for (let i = conv.order.length - 1; i >= 0 && left > 0; i--) {
    const node = conv.byId.get(conv.order[i]);
    if (!node || node.classList.contains('own')) continue;
    first = node;
    left--;
  }
  if (!first) return null;
  const line = el('div', 'new-line');
  line.setAttribute('role', 'separator');
  line.setAttribute('aria-label', 'New messages');
  line.append(el('span', 'new-line-text', 'New'));
  first.before(line);
  regroup(first);
  return line;
}

// Puts a message element at its place by id (ids sort in delivery order);
// messages not yet confirmed (.unplaced) always stay at the very end.
// Returns whether it went last among the confirmed ones.
export function placeEl(conv, node, id) {
  const oldNext = node.parentNode ? node.nextElementSibling : null;
  node.classList.remove('unplaced');
  const order = conv.order;
  let lo = order.length;
  if (lo && order[lo - 1] > id) {
    let hi = lo;
    lo = 0;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (order[mid] < id) lo = mid + 1; else hi = mid;
    }
  }
  order.splice(lo, 0, id);
  conv.byId.set(id, node);
  const before = lo + 1 < order.length ? conv.byId.get(order[lo + 1]) : conv.el.querySelector(':scope > .unplaced');
  conv.el.insertBefore(node, before || null);
  regroup(oldNext);
  regroup(node);
  regroup(node.nextElementSibling);
  return lo === order.length - 1;
}

// A line from the page or the server (not a message): info, help, presence, error.
export function notice(text, kind = 'info', conv = currentConv()) {
  if (!conv) return;
  const line = el('div', `system-line ${kind}`, text);
  if (kind === 'error') line.setAttribute('role', 'alert');
  mutate(conv, () => conv.el.append(line));
}

// Chat requests need the connection up and the name settled.
export function requireReady() {
  if (state.ready) return true;
  notice('Not connected right now. Try again when the banner at the top is gone.', 'error');
  return false;
}
