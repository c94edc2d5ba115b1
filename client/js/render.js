// Everything drawn from the state around the message list: the room and
// private-conversation lists with their unread badges, the member list, the
// conversation header, the composer's placeholder, the new-messages marker
// and the window title. Each function redraws its part from the state alone.

import { plainFiles } from './attachments.js';
import { PREVIEW_CHARS } from './config.js';
import { avatar, button, dom, el } from './dom.js';
import { setMentionBadge } from './mentions.js';
import { currentConv, currentRoomName, state } from './state.js';
import { lower, plural, sameName } from './util.js';

// Updates a list in place, keyed by data-key, so focus and hover survive refreshes.
function syncList(ul, keys, make, update) {
  const existing = new Map();
  for (const li of ul.children) existing.set(li.dataset.key, li);
  const wanted = new Set(keys);
  for (const [k, li] of existing) if (!wanted.has(k)) li.remove();
  let prev = null;
  for (const k of keys) {
    let li = existing.get(k);
    if (!li) {
      li = make(k);
      li.dataset.key = k;
    }
    update(li, k);
    const want = prev ? prev.nextElementSibling : ul.firstElementChild;
    if (want !== li) ul.insertBefore(li, want);
    prev = li;
  }
}

// srText sets the words a screen reader adds after a button's visible text
// (counts, state). The button is named by its content, not by aria-label,
// so its name always holds the text seen on it (WCAG 2.5.3, axe's
// label-content-name-mismatch).
function srText(host, text) {
  let s = host.querySelector(':scope > .sr-text');
  if (!s) {
    s = el('span', 'sr-text visually-hidden');
    host.append(s);
  }
  if (s.textContent !== text) s.textContent = text;
}

function setBadge(host, count, before) {
  let badge = host.querySelector('.unread-badge');
  if (!count) {
    if (badge) badge.remove();
    return;
  }
  if (!badge) {
    badge = el('span', 'unread-badge');
    badge.setAttribute('aria-hidden', 'true'); // the button's label says it
    host.insertBefore(badge, before || null);
  }
  badge.textContent = count > 99 ? '99+' : String(count);
}

// ---- rooms

export function renderRooms() {
  const names = [...state.rooms.keys()].sort();
  syncList(dom.roomList, names, makeRoomItem, updateRoomItem);
}

function makeRoomItem(name) {
  const li = el('li', 'room');
  li.dataset.room = name;
  const open = button('room-open');
  const hash = el('span', 'room-hash', '#');
  hash.setAttribute('aria-hidden', 'true');
  const count = el('span', 'room-count');
  count.setAttribute('aria-hidden', 'true');
  open.append(hash, el('span', 'room-name', name), count);
  const leave = button('room-leave', '×', `Leave #${name}`);
  leave.title = 'Leave room';
  li.append(open, leave);
  return li;
}

function updateRoomItem(li, name) {
  const room = state.rooms.get(name);
  const current = currentRoomName() === name;
  const unread = room.conv ? room.conv.unread : 0;
  const n = room.joined && room.members.length ? room.members.length : room.count;
  li.classList.toggle('joined', room.joined);
  li.classList.toggle('current', current);
  const open = li.querySelector('.room-open');
  if (current) open.setAttribute('aria-current', 'page'); else open.removeAttribute('aria-current');
  const count = open.querySelector('.room-count');
  count.textContent = String(n);
  setBadge(open, unread, count);
  const mentions = room.conv && room.conv.mentions ? room.conv.mentions : 0;
  setMentionBadge(open, mentions);
  const parts = ['', plural(n, 'member')];
  if (unread) parts.push(`${unread} unread`);
  if (mentions) parts.push(plural(mentions, 'mention'));
  parts.push(room.joined ? 'joined' : 'click to join');
  srText(open, parts.join(', '));
  li.querySelector('.room-leave').hidden = !room.joined;
}

// ---- private conversations

// A guest's conversations are listed by name; an account's as the server
// lists them, the newest first (one just opened, with nothing in it yet, on top).
export function renderDms() {
  const keys = [...state.dms.keys()].sort();
  if (state.account) {
    const newest = (k) => state.dms.get(k).last?.id ?? '~'; // '~' sorts after every id
    keys.sort((a, b) => (newest(a) < newest(b)) - (newest(a) > newest(b)));
  }
  syncList(dom.dmList, keys, makeDmItem, updateDmItem);
  dom.dmEmpty.hidden = keys.length > 0;
}

function makeDmItem(key) {
  const dm = state.dms.get(key);
  const li = el('li', 'dm');
  const open = button('dm-open');
  if (state.account) {
    const text = el('span', 'dm-text');
    text.append(el('span', 'dm-name', dm.user), el('span', 'dm-preview'));
    open.append(avatar(dm.user, 'small'), text);
  } else {
    open.append(avatar(dm.user, 'small'), el('span', 'dm-name', dm.user));
  }
  const close = button('dm-close', '×', `Close conversation with ${dm.user}`);
  close.title = 'Close conversation';
  li.append(open, close);
  return li;
}

function updateDmItem(li, key) {
  const dm = state.dms.get(key);
  const current = !!state.view && state.view.kind === 'dm' && state.view.key === key;
  li.dataset.user = dm.user;
  li.classList.toggle('current', current);
  const open = li.querySelector('.dm-open');
  const name = open.querySelector('.dm-name');
  if (name.textContent !== dm.user) name.textContent = dm.user;
  if (current) open.setAttribute('aria-current', 'page'); else open.removeAttribute('aria-current');
  const preview = open.querySelector('.dm-preview');
  if (preview) {
    const text = dm.last ? `${sameName(dm.last.from, state.username) ? 'You: ' : ''}${firstLine(plainFiles(dm.last.content))}` : '';
    if (preview.textContent !== text) preview.textContent = text;
    preview.hidden = !text;
  }
  setBadge(open, dm.conv.unread, null);
  srText(open, `, private conversation${dm.conv.unread ? `, ${dm.conv.unread} unread` : ''}`);
}

function firstLine(text) {
  const chars = [...String(text).trim().split('\n', 1)[0]];
  return chars.length > PREVIEW_CHARS ? `${chars.slice(0, PREVIEW_CHARS).join('')}…` : chars.join('');
}

// ---- members

export function renderMembers() {
  const view = state.view;
  let names = [];
  let heading = 'Members';
  if (view && view.kind === 'room') {
    const room = state.rooms.get(view.key);
    names = room ? room.members : [];
  } else if (view && view.kind === 'dm') {
    const dm = state.dms.get(view.key);
    heading = 'People';
    names = dm ? [dm.user, state.username].filter(Boolean) : [];
  }
  dom.membersHeading.firstChild.textContent = `${heading} `;
  dom.memberCount.textContent = names.length ? `(${names.length})` : '';
  dom.membersToggleCount.textContent = String(names.length);
  dom.membersToggle.setAttribute('aria-label', `Show members, ${names.length}`); // holds the number shown on it
  const byKey = new Map(names.map((n) => [lower(n), n]));
  syncList(dom.memberList, [...byKey.keys()], (key) => makeMemberItem(byKey.get(key)), (li, key) => updateMemberItem(li, byKey.get(key)));
}

function makeMemberItem(name) {
  const li = el('li', 'member');
  const b = button('member-open');
  b.append(avatar(name, 'small'), el('span', 'member-name', name), el('span', 'member-you', '(you)'));
  li.append(b);
  return li;
}

function updateMemberItem(li, name) {
  const self = sameName(name, state.username);
  li.dataset.user = name;
  li.classList.toggle('self', self);
  const b = li.querySelector('.member-open');
  const label = b.querySelector('.member-name');
  if (label.textContent !== name) label.textContent = name;
  b.disabled = self;
  srText(b, self ? '' : ', send a private message');
}

// ---- the conversation's frame

export function renderHeader() {
  const view = state.view;
  const title = dom.convTitle;
  title.replaceChildren();
  if (!view) {
    title.append('parley');
    dom.convSubtitle.textContent = 'No conversation open';
    dom.leaveButton.hidden = true;
    return;
  }
  if (view.kind === 'room') {
    const room = state.rooms.get(view.key);
    const sigil = el('span', 'sigil', '#');
    sigil.setAttribute('aria-hidden', 'true');
    title.append(sigil, view.key);
    dom.convSubtitle.textContent = room ? plural(room.members.length || room.count, 'member') : '';
    dom.leaveButton.textContent = 'Leave';
    dom.leaveButton.setAttribute('aria-label', `Leave #${view.key}`);
  } else {
    const dm = state.dms.get(view.key);
    const sigil = el('span', 'sigil', '@');
    sigil.setAttribute('aria-hidden', 'true');
    title.append(sigil, dm ? dm.user : view.key);
    dom.convSubtitle.textContent = 'Private conversation';
    dom.leaveButton.textContent = 'Close';
    dom.leaveButton.setAttribute('aria-label', `Close the conversation with ${dm ? dm.user : view.key}`);
  }
  dom.leaveButton.hidden = false;
}

export function updateComposer() {
  const view = state.view;
  let ph = 'Type /join room to start';
  if (view && view.kind === 'room') ph = `Message #${view.key}`;
  else if (view && view.kind === 'dm') ph = `Message ${state.dms.get(view.key)?.user ?? view.key}`;
  dom.input.placeholder = ph;
}

// The marker counts what arrived below since the reader scrolled up; it
// starts again from 0 once they are back at the bottom.
export function renderMarker() {
  const conv = currentConv();
  if (!conv.newBelow) conv.below = 0;
  dom.marker.hidden = !conv.newBelow;
  const n = conv.below;
  const text = n > 1 ? `${n > 99 ? '99+' : n} new messages ↓` : 'New message ↓';
  if (conv.newBelow && dom.marker.textContent !== text) dom.marker.textContent = text;
}

export function renderMe() {
  dom.meName.textContent = state.username || '';
}

export function updateTitle() {
  let total = 0;
  for (const r of state.rooms.values()) if (r.conv) total += r.conv.unread;
  for (const d of state.dms.values()) total += d.conv.unread;
  // The phone's ☰ button shows a dot when anything outside the open
  // conversation is unread (the current one's count stays 0 while shown).
  const elsewhere = total > 0;
  if (dom.sidebarToggle.classList.contains('has-unread') !== elsewhere) {
    dom.sidebarToggle.classList.toggle('has-unread', elsewhere);
    dom.sidebarToggle.setAttribute('aria-label', elsewhere ? 'Show rooms and conversations (unread messages)' : 'Show rooms and conversations');
  }
  if (document.hidden) total += state.hiddenUnread;
  document.title = total ? `(${total}) parley` : 'parley';
}

export function renderAll() {
  renderHeader();
  renderRooms();
  renderDms();
  renderMembers();
  renderMarker();
  updateComposer();
  updateTitle();
}
