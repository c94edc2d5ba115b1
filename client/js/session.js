// Who we are to the server, across reconnects: an account (its name comes
// with the Welcome and never changes), or a guest: the name the server gives
// (Welcome), taking the chosen name (remembered in localStorage) the first
// time and back after every reconnect. Then resuming: re-joining rooms from
// the last id held and resending what is pending. Signing in and out is
// account.js's.

import { onLostSession, renderAccount } from './account.js';
import { updateConnUi } from './banner.js';
import { NAME_RE, NAME_RETRIES, NAME_RETRY_MS, ROOMLIST_EVERY_MS, STORE_NAME, STORE_VIEW } from './config.js';
import { clearComposerIf, focusComposer } from './composer.js';
import { conn, request } from './connection.js';
import { requestConversations } from './dms.js';
import { dom } from './dom.js';
import { resyncConversations } from './history.js';
import { notice } from './messagelist.js';
import { flushPending, refreshPendingStatus } from './messages.js';
import { req } from './protocol.js';
import { renderAll, renderMe, renderMembers } from './render.js';
import { requestJoin, requestRoomList } from './rooms.js';
import { showChatScreen, showNameScreen } from './screens.js';
import {
  currentRoomName, joinedRooms, lastId, loadSavedRooms, state,
} from './state.js';
import { readStore, sameName, writeStore } from './util.js';

// A name the server gives (guest-…) belongs to one connection: nobody can
// ask for one, so it is not remembered as a choice to take back.
const givenName = (name) => /^guest[-_]/i.test(name);

export function onWelcome(f) {
  state.everWelcomed = true;
  if (state.account && !f.account) {
    onLostSession(); // we were let in as a guest: the cookie is no longer a session
    return;
  }
  state.username = f.username;
  if (f.account) {
    state.account = f.username;
    state.awaitJoined = true; // the server puts this connection in the account's rooms: Joined says which
    state.markersReady = false;
    renderMe();
    renderAccount();
    if (state.screen === 'chat') resume(); else enterChat();
    return;
  }
  renderMe();
  renderAccount();
  if (state.chosenName && givenName(state.chosenName)) rememberName(null); // kept by an older page
  if (state.screen === 'chat') {
    // Reconnected: take our name back before re-joining, so that nothing
    // (including resent messages) goes out under the guest name.
    if (state.chosenName && !sameName(state.chosenName, f.username)) takeName(state.chosenName, 'reconnect');
    else resume();
    return;
  }
  if (state.chosenName && !state.autoNameTried) {
    state.autoNameTried = true;
    takeName(state.chosenName, 'auto');
    return;
  }
  showNameScreen({ prefill: f.username });
}

// purpose: 'choose' (the name screen), 'auto' (the remembered name on a new
// page), 'reconnect' (taking it back), 'command' (/nick, typed as line).
export function takeName(name, purpose, line) {
  if (purpose === 'reconnect') {
    state.nameWait = name;
  } else if (purpose !== 'command') {
    state.nameBusy = true;
  }
  request(req.setUsername(name), { kind: 'nick', name, purpose, line });
  updateConnUi();
}

// rememberName keeps name to take again after a reconnect or a reload; a
// given guest name is not kept (null forgets).
function rememberName(name) {
  if (name != null && givenName(name)) name = null;
  state.chosenName = name;
  writeStore(localStorage, STORE_NAME, name);
}

export function onNickAck(meta, f) {
  const name = f.username || meta.name;
  state.username = name;
  state.nameBusy = false;
  renderMe();
  switch (meta.purpose) {
    case 'choose':
    case 'auto':
      rememberName(name);
      enterChat();
      break;
    case 'reconnect':
      state.nameWait = null;
      resume();
      break;
    default:
      rememberName(name);
      if (meta.line) clearComposerIf(meta.line);
      notice(`You are now known as ${name}.`);
      renderMembers();
  }
}

// nameWords says why a guest cannot have name, in plain words.
export function nameWords(name, f) {
  switch (f.code) {
    case 'username_taken': return `“${name}” is taken: it belongs to an account or looks like a name in use. Pick another.`;
    case 'invalid_username': return `“${name}” is reserved. Pick another name.`;
    case 'not_allowed': return 'The name of an account cannot be changed.';
    default: return f.message || f.code;
  }
}

export function onNickError(meta, f) {
  const text = nameWords(meta.name, f);
  state.nameBusy = false;
  switch (meta.purpose) {
    case 'choose':
      showNameScreen({ error: text });
      break;
    case 'auto':
      dom.nameInput.value = meta.name;
      showNameScreen({
        error: f.code === 'username_taken'
          ? `“${meta.name}” is in use right now, belongs to an account, or looks like a name in use. Try again in a moment, or pick another name.`
          : text,
      });
      break;
    case 'reconnect':
      if (f.code === 'username_taken' && state.nameRetries < NAME_RETRIES) {
        // The old connection may not have been dropped by the server yet.
        state.nameRetries++;
        state.nameRetryTimer = setTimeout(() => takeName(meta.name, 'reconnect'), NAME_RETRY_MS);
        updateConnUi();
      } else {
        state.nameWait = null;
        resume();
        notice(`Could not take back the name ${meta.name}: ${text} You are ${state.username} for now; use /nick to change it.`, 'error');
      }
      break;
    default:
      notice(`Could not change your name: ${text}`, 'error');
  }
}

// The name screen's form.
export function onNameSubmit(ev) {
  ev.preventDefault();
  const name = dom.nameInput.value.trim();
  if (!NAME_RE.test(name)) {
    showNameScreen({ error: 'Use 1–32 letters, digits, “_” or “-”.' });
    return;
  }
  if (!conn.socketOpen || state.nameBusy) return;
  dom.nameError.textContent = '';
  if (name === state.username) {
    rememberName(name);
    enterChat();
    return;
  }
  takeName(name, 'choose');
}

function enterChat() {
  showChatScreen();
  renderMe();
  resume();
  renderAll();
  focusComposer(true);
}

// After the name is settled (first time or after a reconnect): (re-)join
// rooms with `since` = the last id we hold, then resend what is pending. An
// account's connection is put in its rooms by the server (Joined, rooms.js),
// and its conversations are the server's to list.
function resume() {
  state.ready = true;
  state.nameRetries = 0;
  updateConnUi();
  const joined = joinedRooms();
  if (state.account) {
    requestConversations();
    resyncConversations();
  } else if (joined.length) {
    const cur = currentRoomName();
    // The current room last, so the server's idea of "current" matches ours.
    joined.sort((a, b) => (a.name === cur) - (b.name === cur));
    for (const room of joined) requestJoin(room.name, { rejoin: true, since: lastId(room.conv) });
  } else if (!state.initialJoinDone) {
    state.initialJoinDone = true;
    const saved = loadSavedRooms();
    const view = readStore(sessionStorage, STORE_VIEW);
    const target = saved.includes(view) ? view : saved[0];
    for (const name of saved) requestJoin(name, { switchTo: name === target });
  }
  flushPending((p) => p.kind === 'dm'); // room sends wait for their room's join Ack (or Joined)
  requestRoomList(false);
  clearInterval(state.roomListTimer);
  state.roomListTimer = setInterval(() => requestRoomList(false), ROOMLIST_EVERY_MS);
}

// The socket closed (connection.js's onDrop): nothing may go out until the
// name is settled again on the next one, and no reply to the old one will come.
export function onDisconnect() {
  state.ready = false;
  state.nameWait = null;
  state.nameBusy = false;
  clearTimeout(state.nameRetryTimer);
  clearInterval(state.roomListTimer);
  state.roomListTimer = null;
  state.markersReady = false;
  for (const room of state.rooms.values()) {
    room.live = false;
    room.joinReq = null;
    room.sync = null;
    if (room.conv) room.conv.loadingOlder = false;
  }
  for (const dm of state.dms.values()) {
    dm.conv.loadingOlder = false;
    dm.conv.loadingFirst = false;
  }
  refreshPendingStatus();
}
