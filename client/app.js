/*
 * parley web client: vanilla JS in native ES modules, no build step, runs under the
 * server's strict CSP (no inline script or style; user text only ever goes through
 * textContent). This entry module wires the page's events to the modules in js/:
 *
 *   account.js     sign in, create an account, continue as a guest; log out, change password
 *   connection.js  the WebSocket: reconnect with backoff, rate pacing, request refs
 *   protocol.js    the wire: subprotocol, request shapes, frame decoding
 *   dispatch.js    server object type -> handler; Ack/Error -> the request they answer
 *   session.js     names (guest, chosen, taken back after a reconnect) and resuming
 *   rooms.js       join, leave, room list, members, server notices
 *   dms.js         private conversations; an account's list from the server
 *   history.js     history on join, catch-up after a reconnect, older pages (rooms, an account's DMs)
 *   unread.js      an account's unread counts and read markers (Unread, ReadMarker, MarkRead)
 *   reactions.js   the react picker, reaction chips, Reactions applied
 *   typing.js      Typing sent while typing, "X is typing…" under the composer
 *   mentions.js    @name highlight, .mentions-me, the mention badge on rooms
 *   messages.js    placing confirmed messages; our own sends pending until confirmed
 *   search.js      the search box, its results, and the jump to a result in context
 *   commands.js    /nick /join /pm /rooms /leave /help, and what a typed line means
 *   state.js       rooms, conversations, unread counts, pending sends, the view
 *   view.js        which conversation is shown, and scrolling
 *   messagelist.js a conversation's elements: messages, grouping, notices
 *   render.js      room, DM and member lists, header, marker, title
 *   format.js      times, and links made only from http(s) URLs
 *   markdown.js    a message's text: `code`, fenced blocks, **bold**, *italic*, ~~strike~~, > quotes, links
 *   quote.js       a reply that quotes a message: its Quote action fills the composer
 *   touchmenu.js   on a touch screen, a message's actions shown by a tap on it, hidden by a tap elsewhere
 *   notify.js      desktop notifications (opt-in) for private messages and mentions while hidden
 *   offline.js     registers sw.js, the offline shell
 *   uploads.js     sharing files: the paperclip picker, paste, drop, progress
 *   attachments.js files in messages: image thumbnails and download chips
 *   screens.js, banner.js, composer.js, drawers.js   the screens and page parts
 *   dom.js, util.js, config.js                        elements, helpers, limits
 *
 * DOM hooks (stable; the browser tests drive these):
 *   body[data-screen="connecting"|"signin"|"name"|"chat"]   which screen is shown
 *   body[data-conn="online"|"syncing"|"offline"]    online = name taken and rooms re-joined
 *   #conn-banner (hidden while online; "Can’t reach the server. Retrying" when this page never
 *       reached it, e.g. the offline shell, sw.js), #conn-retry ("Retry now")
 *   #offline-screen                       this page came from the offline shell and the server is down
 *   #signin-screen, #signin-form, #signin-title, #signin-note, #signin-user, #signin-pass,
 *       #signin-submit, #signin-user-error, #signin-pass-error, #signin-error (the form's own),
 *       #signin-mode (switches between signing in and creating an account), #guest-button
 *   #name-screen, #name-form, #name-input (guest name prefilled), #name-submit, #name-error,
 *       #name-back (to the sign-in screen)
 *   .me: #me-name; a guest's #rename-button, #signin-button; an account's #password-button,
 *       #logout-button, #logout-all-button; #password-dialog > #password-form, #password-old, #password-new,
 *       #password-old-error, #password-new-error, #password-error, #password-submit
 *   #app                                  the chat, hidden until a name is taken
 *   #sidebar-toggle, #sidebar, #members-toggle, #member-panel, #drawer-backdrop (narrow screens)
 *   #room-list > li[data-room="general"]  .joined, .current; button.room-open, button.room-leave
 *   #new-room-form, #new-room-input, #new-room-submit, #new-room-error (the box's own errors)
 *   #dm-list > li[data-user="bob"]        .current; button.dm-open (an account's: .dm-preview, the
 *                                         last message), button.dm-close
 *   .unread-badge                         inside a room or DM item, present only when unread > 0
 *   #conv-title, #conv-subtitle, #leave-button
 *   #message-list (role=log, the scroller) > .conv > children:
 *       .history-edge                     top: "loading older" / "load older" button / start of room;
 *                                         in a guest's DM, .guest-dm-note (its messages are not kept)
 *       .message[data-id][data-user]      .own, .grouped; own sends from this page also carry
 *                                         data-nonce and .pending -> .sent, or .failed with
 *                                         .msg-error and button[data-action="retry"|"discard"]
 *       .message .msg-author .msg-time .msg-body (links: a.msg-link)
 *       .message.own (with an id)          .msg-actions > button[data-action="edit"|"delete"];
 *                                         editing: .msg-editor > textarea.msg-edit-input (Enter saves,
 *                                         Esc cancels); deleting: .msg-confirm > button[data-action=
 *                                         "delete-yes"|"delete-no"]; .edited (.msg-edited "(edited)"),
 *                                         .deleted (.msg-deleted-text "message deleted")
 *       .message.actions-open              on a touch screen (no hover), the tapped message: its
 *                                         .msg-actions are shown (elsewhere: on hover or focus)
 *       .message (a room's) .msg-actions > button[data-action="quote"] puts it, quoted, in the composer;
 *       .message (a room's) .msg-actions > button[data-action="react"] opens .react-picker >
 *                                         button[data-action="react-pick"][data-emoji]; .msg-reactions >
 *                                         button.reaction-chip[data-action="reaction"][data-emoji]
 *                                         [aria-pressed] (.reaction-emoji, .reaction-count)
 *       .message.mentions-me              a message that mentions me; .msg-body span.mention(.mention-me)
 *   .mention-badge                        inside a room item: "@n", unread messages that mention me
 *   #typing-indicator                     under the composer: "bob is typing…" (hidden when nobody)
 *       .system-line                      notices, joins/leaves, errors (.error)
 *       .day-separator[data-day]          before the first message of each local day
 *       .new-line                         "New": before the first unread message on entering
 *       .msg-body markdown: code.md-code, pre.md-pre > code, strong.md-strong, em.md-em,
 *                                         del.md-del, blockquote.md-quote, a.msg-link
 *   #new-messages-marker                  shown when scrolled up and something new arrived below ("3 new messages ↓")
 *   #sidebar-toggle.has-unread            a dot: something outside the open conversation is unread
 *   #notify-setting > #notify-toggle (checkbox), #notify-status
 *   #member-list > li[data-user="bob"]    .self for yourself; click anyone else to open a DM
 *   #composer, #message-input, #send-button, #char-count
 *   #search-form > #search-input (Enter searches, Esc closes); #search-panel (hidden until a search)
 *       > #search-status, #search-close, #search-results > li > button.search-result[data-id]
 *       [data-room|data-with] > .search-where .search-author .search-time .search-snippet (> mark);
 *       the message jumped to: .message.search-hit
 *   #attach-button, #file-input (the picker), #upload-status (#upload-name, #upload-progress,
 *       #upload-cancel; hidden when idle); in a message's .msg-body, .msg-files > a.msg-image > img
 *       (a thumbnail) or a.msg-file (a download chip, .msg-file-name)
 *   window.parley.state() -> {connected, socketOpen, screen, username, account, currentRoom,
 *                             currentDm, rooms, dms, pending, failed, typing: ["room:general/alice"]}
 */

import {
  begin, onEnded, onRefused, renderAccount, wireAccount,
} from './js/account.js';
import { updateConnUi } from './js/banner.js';
import { submitLine } from './js/commands.js';
import { prefill, wireComposer } from './js/composer.js';
import { conn, reconnectNow, setHooks } from './js/connection.js';
import { handlers } from './js/dispatch.js';
import { dom } from './js/dom.js';
import { closeDrawers, escapeDrawer, wireDrawers } from './js/drawers.js';
import { closeDm, openDm } from './js/dms.js';
import { askDelete, cancelEdit, confirmDelete, saveEdit, startEdit } from './js/edits.js';
import { loadOlder } from './js/history.js';
import { pickReaction, toggleReactPicker, toggleReaction } from './js/reactions.js';
import { noteTyping, typingNow } from './js/typing.js';
import { newConv, showConv } from './js/messagelist.js';
import { discardPending, retryPending } from './js/messages.js';
import { closeSearch, onResultClick, submitSearch } from './js/search.js';
import { renderAll, updateTitle } from './js/render.js';
import {
  leaveRoom, onRoomBoxSubmit, openRoom, setRoomBoxError,
} from './js/rooms.js';
import { quoteMessage } from './js/quote.js';
import { wireTouchMenu } from './js/touchmenu.js';
import { onDisconnect, onNameSubmit } from './js/session.js';
import { currentConv, currentRoomName, joinedRooms, state } from './js/state.js';
import { maybeMarkRead } from './js/unread.js';
import { wireUploads } from './js/uploads.js';
import { sameName } from './js/util.js';
import { onListScroll, setView, showNewest, stepView } from './js/view.js';
import { wireNotify } from './js/notify.js';
import { registerShell, retryNow } from './js/offline.js';

function wire() {
  dom.nameForm.addEventListener('submit', onNameSubmit);
  wireAccount();
  dom.bannerRetry.addEventListener('click', reconnect);

  wireComposer(submitLine);
  dom.input.addEventListener('input', noteTyping);
  wireUploads();

  dom.newRoomForm.addEventListener('submit', onRoomBoxSubmit);
  dom.newRoomInput.addEventListener('input', () => setRoomBoxError(''));

  dom.roomList.addEventListener('click', (ev) => {
    const li = ev.target.closest('li[data-room]');
    if (!li) return;
    if (ev.target.closest('.room-leave')) leaveRoom(li.dataset.room);
    else openRoom(li.dataset.room);
  });

  dom.dmList.addEventListener('click', (ev) => {
    const li = ev.target.closest('li[data-key]');
    if (!li) return;
    if (ev.target.closest('.dm-close')) closeDm(li.dataset.key);
    else setView({ kind: 'dm', key: li.dataset.key });
  });

  dom.memberList.addEventListener('click', (ev) => {
    const li = ev.target.closest('li[data-user]');
    if (li && !sameName(li.dataset.user, state.username)) openDm(li.dataset.user);
  });

  dom.messageList.addEventListener('scroll', onListScroll, { passive: true });
  wireTouchMenu(dom.messageList);
  dom.messageList.addEventListener('click', (ev) => {
    const b = ev.target.closest('button[data-action]');
    if (!b) return;
    const msg = b.closest('.message');
    if (b.dataset.action === 'older') loadOlder(currentConv());
    else if (msg && b.dataset.action === 'retry') retryPending(msg.dataset.nonce);
    else if (msg && b.dataset.action === 'discard') discardPending(msg.dataset.nonce);
    else if (msg && b.dataset.action === 'quote') quoteMessage(msg);
    else if (msg && b.dataset.action === 'edit') startEdit(msg);
    else if (msg && b.dataset.action === 'edit-save') saveEdit(msg);
    else if (msg && b.dataset.action === 'edit-cancel') cancelEdit(msg);
    else if (msg && b.dataset.action === 'delete') askDelete(msg);
    else if (msg && b.dataset.action === 'delete-yes') confirmDelete(msg);
    else if (msg && b.dataset.action === 'delete-no') cancelEdit(msg);
    else if (msg && b.dataset.action === 'react') toggleReactPicker(msg);
    else if (msg && b.dataset.action === 'react-pick') pickReaction(msg, b.dataset.emoji);
    else if (msg && b.dataset.action === 'reaction') toggleReaction(msg, b.dataset.emoji);
  });

  dom.marker.addEventListener('click', showNewest);

  dom.searchForm.addEventListener('submit', submitSearch);
  dom.searchResults.addEventListener('click', onResultClick);
  dom.searchClose.addEventListener('click', closeSearch);
  dom.searchInput.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && !dom.searchPanel.hidden) {
      ev.stopPropagation();
      closeSearch();
    }
  });

  dom.leaveButton.addEventListener('click', () => {
    if (!state.view) return;
    if (state.view.kind === 'dm') closeDm(state.view.key); else leaveRoom(state.view.key);
  });

  dom.renameButton.addEventListener('click', () => {
    prefill('/nick ');
    closeDrawers();
    dom.input.focus();
  });

  wireDrawers();
  wireNotify();

  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && !dom.passwordDialog.open) escapeDrawer();
    if (ev.altKey && (ev.key === 'ArrowUp' || ev.key === 'ArrowDown') && state.screen === 'chat') {
      ev.preventDefault();
      stepView(ev.key === 'ArrowUp' ? -1 : 1);
    }
  });

  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) {
      state.hiddenUnread = 0;
      updateTitle();
      reconnect(); // phones suspend timers in the background; catch up at once
      maybeMarkRead(currentConv());
    }
  });
  window.addEventListener('focus', () => maybeMarkRead(currentConv()));
  window.addEventListener('online', reconnect);
}

// Now: ask the server again who we are, if the page is still waiting to
// know (offline.js), else reconnect the socket.
function reconnect() {
  if (!retryNow()) reconnectNow();
}

function init() {
  state.lobby = newConv('lobby', '');
  showConv(state.lobby);
  dom.body.dataset.screen = 'connecting';
  if (state.chosenName) dom.nameInput.value = state.chosenName;
  wire();
  setHooks({
    handlers, onStatus: updateConnUi, onDrop: onDisconnect, onRefused, onEnded,
  });
  updateConnUi();
  renderAll();
  renderAccount();
  begin();
  registerShell();
}

// Read-only view of the state, for debugging and the browser tests.
function snapshot() {
  const pending = [...state.pending.values()];
  return {
    connected: state.ready,
    socketOpen: conn.socketOpen,
    screen: state.screen,
    username: state.username,
    account: !!state.account,
    currentRoom: currentRoomName(),
    currentDm: state.view && state.view.kind === 'dm' ? state.dms.get(state.view.key)?.user ?? null : null,
    rooms: joinedRooms().map((r) => r.name).sort(),
    dms: [...state.dms.values()].map((d) => d.user),
    pending: pending.filter((p) => p.status === 'pending').length,
    failed: pending.filter((p) => p.status === 'failed').length,
    typing: typingNow(),
  };
}

Object.defineProperty(window, 'parley', { value: Object.freeze({ state: snapshot }), enumerable: false });

init();
