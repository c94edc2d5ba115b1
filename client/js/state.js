// The chat's state: who we are, the rooms and private conversations, what is
// shown, and our own messages not yet confirmed. Other modules change it;
// this one only answers questions about it. The connection's own state is
// conn, in connection.js.

import { DEFAULT_ROOM, ROOM_RE, STORE_NAME, STORE_ROOMS } from './config.js';
import { readStore, writeStore } from './util.js';

/*
 * Room:    {name, joined, live, count, members: [names], conv, joinReq, sync, leaving}
 *          joined = we consider ourselves a member (kept across reconnects);
 *          live = joined on the current connection (Ack received, or an account's
 *          Joined), so sends may go out; sync = {since} while the History that
 *          follows an account's Joined (no ref) is awaited; leaving = Map lower-cased
 *          name -> timer of a leave not told yet (rooms.js, PRESENCE_GRACE_MS).
 * Dm:      {user, conv, last}                         keyed by lower-cased user name;
 *          last = {id, from, content}: the newest message known (an account's list)
 * Conv:    {kind, key, el, edge, order: [ids sorted], byId: Map id->element, unread,
 *           hasOlder, loadingOlder, loadingFirst, historyLoaded, noHistory,
 *           stick, scrollTop, newBelow,
 *           readId, markWant, markSent, markAt, markTimer, noMark}
 *          unread: for a guest counted here; for an account the server's count
 *          (Unread, ReadMarker) plus what arrived live since. readId is the
 *          server's read marker, markSent the last MarkRead sent (unread.js).
 * Pending: {nonce, conv, kind: 'room'|'dm', target, to, content, el, status, id,
 *           sentOn (connection id), resent, autoRetries, retryTimer}
 */
export const state = {
  ready: false, // name settled and rooms being re-joined: chat requests may go out
  screen: 'connecting',
  username: null, // the name the server knows us by right now
  account: null, // the account's name when signed in (the cookie); null for a guest
  everWelcomed: false, // a socket of this page was greeted: the server takes our upgrades
  guestsOff: false, // the server refused a guest's upgrade while it answered the API
  signinBusy: false,
  chosenName: readStore(localStorage, STORE_NAME), // the name to (re-)take
  autoNameTried: false,
  nameBusy: false,
  namePrefill: null,
  nameWait: null, // name we are waiting to re-take after a reconnect
  nameRetries: 0,
  nameRetryTimer: null,
  initialJoinDone: false,
  awaitJoined: false, // an account's connection: the first Joined (every room it is in) is still to come
  markersReady: false, // an account's connection: Unread came, the read markers are known
  rooms: new Map(),
  dms: new Map(),
  view: null, // {kind: 'room'|'dm', key}
  lobby: null, // the conversation shown when no room or DM is open
  pending: new Map(), // nonce -> Pending, in send order
  roomListTimer: null,
  hiddenUnread: 0,
  unreachable: null, // waiting for the server before knowing who we are (offline.js)
};

export function ensureRoom(name) {
  let room = state.rooms.get(name);
  if (!room) {
    room = {
      name, joined: false, live: false, count: 0, members: [], conv: null, joinReq: null, sync: null, leaving: new Map(),
    };
    state.rooms.set(name, room);
  }
  return room;
}

export const joinedRooms = () => [...state.rooms.values()].filter((r) => r.joined);
export const lastId = (conv) => (conv && conv.order.length ? conv.order[conv.order.length - 1] : undefined);
export const currentRoomName = () => (state.view && state.view.kind === 'room' ? state.view.key : null);

export function convOf(view) {
  if (!view) return state.lobby;
  if (view.kind === 'room') {
    const room = state.rooms.get(view.key);
    return room && room.conv ? room.conv : state.lobby;
  }
  const dm = state.dms.get(view.key);
  return dm ? dm.conv : state.lobby;
}

export const currentConv = () => convOf(state.view);

// Where to go when the current conversation closes.
export function fallbackView() {
  const joined = joinedRooms().map((r) => r.name).sort();
  if (joined.length) return { kind: 'room', key: joined[0] };
  const dm = state.dms.keys().next();
  return dm.done ? null : { kind: 'dm', key: dm.value };
}

// This tab's rooms, kept across reloads.
export function loadSavedRooms() {
  let saved = [];
  try { saved = JSON.parse(readStore(sessionStorage, STORE_ROOMS) || '[]'); } catch { /* ignore */ }
  saved = Array.isArray(saved) ? saved.filter((n) => typeof n === 'string' && ROOM_RE.test(n)) : [];
  return saved.length ? saved : [DEFAULT_ROOM];
}

export function saveRooms() {
  writeStore(sessionStorage, STORE_ROOMS, JSON.stringify(joinedRooms().map((r) => r.name)));
}
