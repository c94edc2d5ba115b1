// Which conversation is shown: switching (keeping each one's scroll
// position), stepping through them with Alt+arrows, and following the
// reader's scrolling (stick to the bottom, load older near the top).

import { STORE_VIEW } from './config.js';
import { focusComposer } from './composer.js';
import { dom } from './dom.js';
import { closeDrawers } from './drawers.js';
import { loadConversation, loadOlder, maybeFill } from './history.js';
import { atBottom, markFirstUnread, scrollToBottom, showConv } from './messagelist.js';
import { renderAll, renderMarker } from './render.js';
import { currentConv, joinedRooms, state } from './state.js';
import { renderTyping } from './typing.js';
import { maybeMarkRead } from './unread.js';
import { writeStore } from './util.js';

export function setView(view) {
  const list = dom.messageList;
  const prev = currentConv();
  prev.scrollTop = list.scrollTop;
  state.view = view;
  const conv = currentConv();
  const unread = conv.unread;
  conv.unread = 0;
  conv.mentions = 0;
  list.setAttribute('aria-busy', 'true'); // do not read the whole swapped-in log aloud
  showConv(conv);
  const line = markFirstUnread(conv, unread);
  // An account's conversation not loaded yet: the line goes in with its first page (history.js).
  conv.newOnLoad = !line && !conv.historyLoaded ? unread : 0;
  if (conv.stick) scrollToBottom(); else list.scrollTop = conv.scrollTop;
  if (line) showLine(conv, line);
  requestAnimationFrame(() => list.setAttribute('aria-busy', 'false'));
  if (view && view.kind === 'room') writeStore(sessionStorage, STORE_VIEW, view.key);
  renderAll();
  renderTyping();
  closeDrawers();
  focusComposer(false);
  if (conv.kind === 'dm' && !conv.historyLoaded) loadConversation(conv);
  maybeFill(conv);
  maybeMarkRead(conv);
}

// Brings the "New" line into view when it lies above the top: the reader
// starts at the first message they have not seen.
export function showLine(conv, line) {
  const list = dom.messageList;
  const above = line.getBoundingClientRect().top - list.getBoundingClientRect().top;
  if (above >= 0) return;
  list.scrollTop += above - 8;
  conv.stick = atBottom();
}

export function stepView(delta) {
  const views = [
    ...joinedRooms().map((r) => r.name).sort().map((key) => ({ kind: 'room', key })),
    ...[...state.dms.keys()].sort().map((key) => ({ kind: 'dm', key })),
  ];
  if (!views.length) return;
  const cur = views.findIndex((v) => state.view && v.kind === state.view.kind && v.key === state.view.key);
  setView(views[(cur + delta + views.length) % views.length]);
}

export function onListScroll() {
  const conv = currentConv();
  conv.stick = atBottom();
  if (conv.stick && conv.newBelow) {
    conv.newBelow = false;
    renderMarker();
  }
  if (conv.stick) maybeMarkRead(conv);
  if (dom.messageList.scrollTop < 300) loadOlder(conv);
}

// The "New messages" marker: back to the bottom, and stay there.
export function showNewest() {
  const conv = currentConv();
  conv.stick = true;
  conv.newBelow = false;
  scrollToBottom();
  renderMarker();
  focusComposer(false);
  maybeMarkRead(conv);
}
