/*
 * parley web client: vanilla JS, no build step, runs under the server's strict CSP
 * (no inline script or style; user text only ever goes through textContent).
 *
 * DOM hooks (stable; the browser tests drive these):
 *   body[data-screen="connecting"|"name"|"chat"]   which screen is shown
 *   body[data-conn="online"|"syncing"|"offline"]    online = name taken and rooms re-joined
 *   #conn-banner (hidden while online), #conn-retry ("Retry now")
 *   #name-screen, #name-form, #name-input (guest name prefilled), #name-submit, #name-error
 *   #app                                  the chat, hidden until a name is taken
 *   #sidebar-toggle, #sidebar, #members-toggle, #member-panel, #drawer-backdrop (narrow screens)
 *   #room-list > li[data-room="general"]  .joined, .current; button.room-open, button.room-leave
 *   #new-room-form, #new-room-input, #new-room-submit
 *   #dm-list > li[data-user="bob"]        .current; button.dm-open, button.dm-close
 *   .unread-badge                         inside a room or DM item, present only when unread > 0
 *   #conv-title, #conv-subtitle, #leave-button
 *   #message-list (role=log, the scroller) > .conv > children:
 *       .history-edge                     top: "loading older" / "load older" button / start of room
 *       .message[data-id][data-user]      .own, .grouped; own sends from this page also carry
 *                                         data-nonce and .pending -> .sent, or .failed with
 *                                         .msg-error and button[data-action="retry"|"discard"]
 *       .message .msg-author .msg-time .msg-body (links: a.msg-link)
 *       .system-line                      notices, joins/leaves, errors (.error)
 *   #new-messages-marker                  shown when scrolled up and something new arrived below
 *   #member-list > li[data-user="bob"]    .self for yourself; click anyone else to open a DM
 *   #composer, #message-input, #send-button, #char-count
 *   window.parley.state() -> {connected, socketOpen, screen, username, currentRoom, currentDm,
 *                             rooms, dms, pending, failed}
 */
'use strict';

(() => {
  // ---------------------------------------------------------------- constants

  const SUBPROTOCOL = 'parley.batch.v1';
  const NAME_RE = /^[A-Za-z0-9_-]{1,32}$/;
  const ROOM_RE = /^[a-z0-9_-]{1,64}$/;
  const MAX_CONTENT = 4000; // characters (code points), as the server counts them
  const MAX_FRAME_BYTES = 16 * 1024 - 256; // the server closes with 1009 above 16 KiB
  const HISTORY_PAGE = 50;
  const GAP_PAGE = 200; // the server's History maximum
  const GROUP_GAP_MS = 5 * 60 * 1000;
  const ROOMLIST_EVERY_MS = 10000;
  const NAME_RETRY_MS = 3000;
  const NAME_RETRIES = 15; // ~45 s: longer than the server's ping timeout for a dead old session
  const BACKOFF_BASE_MS = 500;
  const BACKOFF_MAX_MS = 30000;
  const AUTO_RETRY_MAX = 4;
  // The server allows 20 frames/s with a burst of 40; stay well under it so
  // that a reconnect (re-joins + resends) never trips rate_limited.
  const BUCKET_SIZE = 20;
  const BUCKET_REFILL_PER_MS = 15 / 1000;
  const STORE_NAME = 'parley.username'; // localStorage: survives reloads and new tabs
  const STORE_ROOMS = 'parley.rooms'; // sessionStorage: this tab's joined rooms
  const STORE_VIEW = 'parley.view'; // sessionStorage: this tab's current room
  const DEFAULT_ROOM = 'general';

  const COMMANDS = [
    ['/nick', '<name>', 'change your name'],
    ['/join', '<room>', 'join (or create) a room and switch to it'],
    ['/pm', '<user> [message]', 'open a private conversation, optionally sending a message'],
    ['/rooms', '', 'list all rooms with their member counts'],
    ['/leave', '[room]', 'leave the current room (or the one named); closes a private conversation'],
    ['/help', '', 'show this help'],
  ];

  // ---------------------------------------------------------------- DOM

  const $ = (id) => document.getElementById(id);
  const dom = {
    body: document.body,
    banner: $('conn-banner'),
    bannerText: $('conn-banner-text'),
    bannerCountdown: $('conn-banner-countdown'),
    bannerRetry: $('conn-retry'),
    nameScreen: $('name-screen'),
    nameForm: $('name-form'),
    nameInput: $('name-input'),
    nameSubmit: $('name-submit'),
    nameError: $('name-error'),
    nameStatus: $('name-status'),
    app: $('app'),
    sidebar: $('sidebar'),
    sidebarToggle: $('sidebar-toggle'),
    memberPanel: $('member-panel'),
    membersToggle: $('members-toggle'),
    membersToggleCount: $('members-toggle-count'),
    backdrop: $('drawer-backdrop'),
    meName: $('me-name'),
    renameButton: $('rename-button'),
    roomList: $('room-list'),
    newRoomForm: $('new-room-form'),
    newRoomInput: $('new-room-input'),
    dmList: $('dm-list'),
    dmEmpty: $('dm-empty'),
    convTitle: $('conv-title'),
    convSubtitle: $('conv-subtitle'),
    leaveButton: $('leave-button'),
    messageList: $('message-list'),
    marker: $('new-messages-marker'),
    membersHeading: $('members-heading'),
    memberCount: $('member-count'),
    memberList: $('member-list'),
    composer: $('composer'),
    input: $('message-input'),
    sendButton: $('send-button'),
    charCount: $('char-count'),
  };

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    return node;
  }

  function button(cls, text, label) {
    const b = el('button', cls, text);
    b.type = 'button';
    if (label) b.setAttribute('aria-label', label);
    return b;
  }

  // ---------------------------------------------------------------- state

  /*
   * Room:    {name, joined, live, count, members: [names], conv, joinReq}
   *          joined = we consider ourselves a member (kept across reconnects);
   *          live = joined on the current connection (Ack received), so sends may go out.
   * Dm:      {user, conv}                               keyed by lower-cased user name
   * Conv:    {kind, key, el, edge, order: [ids sorted], byId: Map id->element, unread,
   *           hasOlder, loadingOlder, historyLoaded, stick, scrollTop, newBelow}
   * Pending: {nonce, conv, kind: 'room'|'dm', target, to, content, el, status, id,
   *           sentOn (connection id), resent, autoRetries, retryTimer}
   */
  const state = {
    ws: null,
    connId: 0,
    socketOpen: false,
    ready: false, // name settled and rooms being re-joined: chat requests may go out
    screen: 'connecting',
    username: null, // the name the server knows us by right now
    chosenName: readStore(localStorage, STORE_NAME), // the name to (re-)take
    autoNameTried: false,
    nameBusy: false,
    namePrefill: null,
    nameWait: null, // name we are waiting to re-take after a reconnect
    nameRetries: 0,
    nameRetryTimer: null,
    initialJoinDone: false,
    rooms: new Map(),
    dms: new Map(),
    view: null, // {kind: 'room'|'dm', key}
    lobby: null, // the conversation shown when no room or DM is open
    pending: new Map(), // nonce -> Pending, in send order
    refs: new Map(), // ref -> what the request was, for matching its reply
    nextRef: 1,
    outbox: [],
    tokens: BUCKET_SIZE,
    tokensAt: 0,
    drainTimer: null,
    reconnect: { attempt: 0, timer: null, at: 0, tick: null, openedAt: 0, reason: '' },
    roomListTimer: null,
    hiddenUnread: 0,
  };

  // ---------------------------------------------------------------- helpers

  function readStore(store, key) {
    try { return store.getItem(key); } catch { return null; }
  }

  function writeStore(store, key, value) {
    try {
      if (value == null) store.removeItem(key); else store.setItem(key, value);
    } catch { /* storage disabled: the page still works, it just forgets */ }
  }

  const lower = (s) => String(s).toLowerCase();
  const sameName = (a, b) => a != null && b != null && lower(a) === lower(b);
  const codePoints = (s) => { let n = 0; for (const _ of s) n++; return n; };
  const utf8Bytes = (s) => new TextEncoder().encode(s).length;
  const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

  function makeNonce() {
    // crypto.randomUUID needs a secure context; getRandomValues works on plain http too.
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  function normalizeRoom(name) {
    return lower(String(name || '').trim().replace(/^#/, ''));
  }

  function hue(name) {
    let h = 0;
    for (const ch of lower(name)) h = (h * 31 + ch.codePointAt(0)) >>> 0;
    return h % 12;
  }

  function avatar(name, extra) {
    const a = el('span', `avatar hue-${hue(name)}${extra ? ' ' + extra : ''}`, (Array.from(name)[0] || '?').toUpperCase());
    a.setAttribute('aria-hidden', 'true');
    return a;
  }

  // ---- time

  const fmtTime = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
  const fmtDayTime = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  const fmtFull = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });

  function parseTime(ts) {
    const d = ts ? new Date(ts) : new Date();
    return Number.isNaN(d.getTime()) ? new Date() : d;
  }

  function shortTime(d) {
    const now = new Date();
    const today = d.getFullYear() === now.getFullYear() && d.getMonth() === now.getMonth() && d.getDate() === now.getDate();
    return today ? fmtTime.format(d) : fmtDayTime.format(d);
  }

  // ---- links: split the text, make <a> only for http(s) URLs that parse

  const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;

  function trimUrl(s) {
    const count = (str, c) => str.split(c).length - 1;
    for (;;) {
      const c = s[s.length - 1];
      if ('.,;:!?*'.includes(c)) s = s.slice(0, -1);
      else if (c === ')' && count(s, '(') < count(s, ')')) s = s.slice(0, -1);
      else if (c === ']' && count(s, '[') < count(s, ']')) s = s.slice(0, -1);
      else return s;
    }
  }

  function safeHref(raw) {
    try {
      const u = new URL(raw);
      return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
    } catch {
      return null;
    }
  }

  function renderText(target, text) {
    let last = 0;
    for (const m of text.matchAll(URL_RE)) {
      const raw = trimUrl(m[0]);
      const href = safeHref(raw);
      if (!href || m.index < last) continue;
      if (m.index > last) target.append(document.createTextNode(text.slice(last, m.index)));
      const a = el('a', 'msg-link', raw);
      a.href = href;
      a.rel = 'noopener noreferrer';
      a.target = '_blank';
      target.append(a);
      last = m.index + raw.length;
    }
    if (last < text.length) target.append(document.createTextNode(text.slice(last)));
  }

  // ---------------------------------------------------------------- transport

  function wsUrl() {
    const u = new URL('/ws', location.href);
    u.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    u.search = '';
    u.hash = '';
    return u.href;
  }

  function connect() {
    const r = state.reconnect;
    clearTimeout(r.timer);
    clearInterval(r.tick);
    r.timer = null;
    r.tick = null;
    if (state.ws) return;
    let ws;
    try {
      ws = new WebSocket(wsUrl(), [SUBPROTOCOL]);
    } catch (err) {
      console.error('parley: cannot open WebSocket', err);
      scheduleReconnect({ code: 0 });
      return;
    }
    const id = ++state.connId;
    state.ws = ws;
    ws.onopen = () => {
      if (id !== state.connId) return;
      state.socketOpen = true;
      r.openedAt = Date.now();
      state.tokens = BUCKET_SIZE;
      state.tokensAt = performance.now();
      updateConnUi();
    };
    ws.onmessage = (ev) => { if (id === state.connId) onData(ev.data, ws.protocol); };
    ws.onclose = (ev) => { if (id === state.connId) onClose(ev); };
    ws.onerror = () => { /* a close event always follows */ };
    updateConnUi();
  }

  function onClose(ev) {
    const r = state.reconnect;
    const stayedUp = r.openedAt && Date.now() - r.openedAt > 5000;
    state.ws = null;
    state.socketOpen = false;
    state.ready = false;
    state.nameWait = null;
    state.nameBusy = false;
    r.openedAt = 0;
    state.refs.clear(); // replies to this connection's requests will never come
    state.outbox.length = 0;
    clearTimeout(state.drainTimer);
    clearTimeout(state.nameRetryTimer);
    clearInterval(state.roomListTimer);
    state.roomListTimer = null;
    for (const room of state.rooms.values()) {
      room.live = false;
      room.joinReq = null;
      if (room.conv) room.conv.loadingOlder = false;
    }
    if (stayedUp) r.attempt = 0;
    refreshPendingStatus();
    scheduleReconnect(ev);
  }

  function closeReason(code) {
    switch (code) {
      case 1001: return 'The server is restarting.';
      case 1008: return 'The server closed the connection.';
      case 1009: return 'A message was too large for the server.';
      case 1013: return 'The server is busy.';
      default: return 'Connection lost.';
    }
  }

  function scheduleReconnect(ev) {
    const r = state.reconnect;
    // Exponential backoff with jitter: anywhere in [cap/2, cap), so that many
    // clients dropped at once (a server restart) do not come back in lockstep.
    const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** r.attempt);
    let delay = cap / 2 + Math.random() * (cap / 2);
    if (ev.code === 1008 || ev.code === 1013) delay = Math.max(delay, 5000 + Math.random() * 5000);
    r.attempt = Math.min(r.attempt + 1, 16);
    r.reason = closeReason(ev.code);
    r.at = Date.now() + delay;
    r.timer = setTimeout(connect, delay);
    r.tick = setInterval(updateConnUi, 1000);
    updateConnUi();
  }

  function reconnectNow() {
    if (!state.ws) connect();
  }

  // Client -> server is always one JSON object per frame. Frames go through a
  // small token bucket so bursts (re-joins, resends) stay under the rate limit.
  function sendFrame(obj) {
    if (!state.socketOpen || !state.ws) return false;
    state.outbox.push(JSON.stringify(obj));
    drain();
    return true;
  }

  function drain() {
    clearTimeout(state.drainTimer);
    state.drainTimer = null;
    const now = performance.now();
    state.tokens = Math.min(BUCKET_SIZE, state.tokens + (now - state.tokensAt) * BUCKET_REFILL_PER_MS);
    state.tokensAt = now;
    while (state.outbox.length && state.tokens >= 1 && state.ws) {
      try {
        state.ws.send(state.outbox.shift());
      } catch (err) {
        console.warn('parley: send failed', err);
        return; // the close event will follow and reset everything
      }
      state.tokens -= 1;
    }
    if (state.outbox.length) {
      state.drainTimer = setTimeout(drain, Math.ceil((1 - state.tokens) / BUCKET_REFILL_PER_MS));
    }
  }

  // Every request carries a ref so that its Ack/Error/History/RoomList can be matched.
  function request(obj, meta) {
    const ref = String(state.nextRef++);
    if (!sendFrame({ ...obj, ref })) return null;
    state.refs.set(ref, meta);
    return ref;
  }

  function takeRef(ref) {
    if (ref == null) return null;
    const meta = state.refs.get(ref) || null;
    state.refs.delete(ref);
    return meta;
  }

  function onData(data, protocol) {
    if (typeof data !== 'string') return;
    // With parley.batch.v1 one frame may hold several objects, one per line.
    const parts = protocol === SUBPROTOCOL ? data.split('\n') : [data];
    for (const part of parts) {
      if (!part.trim()) continue;
      let frame;
      try {
        frame = JSON.parse(part);
      } catch {
        console.warn('parley: unparsable frame', part.slice(0, 200));
        continue;
      }
      const handler = frame && HANDLERS[frame.type];
      if (!handler) continue;
      try {
        handler(frame);
      } catch (err) {
        console.error('parley: error handling', frame.type, err);
      }
    }
  }

  // ---------------------------------------------------------------- connection UI

  function updateConnUi() {
    const r = state.reconnect;
    let text = null;
    let countdown = '';
    if (state.socketOpen) {
      if (state.screen === 'chat' && !state.ready) {
        if (!state.nameWait) text = 'Reconnected. Catching up…';
        else if (state.nameRetries) text = `Reconnected. Waiting for the server to release the name “${state.nameWait}”…`;
        else text = `Reconnected. Signing in as ${state.nameWait}…`;
      }
    } else if (r.timer) {
      text = `${r.reason} Reconnecting`;
      countdown = `in ${Math.max(0, Math.ceil((r.at - Date.now()) / 1000))} s…`;
    } else if (state.ws && state.connId > 1) {
      text = 'Reconnecting…';
    }
    dom.banner.hidden = !text;
    if (text && dom.bannerText.textContent !== text) dom.bannerText.textContent = text;
    dom.bannerCountdown.textContent = countdown;
    dom.bannerRetry.hidden = !r.timer;
    dom.body.dataset.conn = state.ready ? 'online' : state.socketOpen ? 'syncing' : 'offline';
    dom.nameSubmit.disabled = !state.socketOpen || state.nameBusy;
    updateNameStatus();
  }

  function updateNameStatus() {
    let s = '';
    if (!state.socketOpen) s = state.reconnect.timer ? 'Cannot reach the server yet…' : 'Connecting…';
    else if (state.nameBusy) s = 'Checking that name…';
    dom.nameStatus.textContent = s;
  }

  // ---------------------------------------------------------------- names

  function onWelcome(f) {
    state.username = f.username;
    renderMe();
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

  function takeName(name, purpose) {
    if (purpose === 'reconnect') {
      state.nameWait = name;
    } else if (purpose !== 'command') {
      state.nameBusy = true;
    }
    request({ type: 'SetUsername', username: name }, { kind: 'nick', name, purpose });
    updateConnUi();
  }

  function rememberName(name) {
    state.chosenName = name;
    writeStore(localStorage, STORE_NAME, name);
  }

  function onNickAck(meta, f) {
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
        notice(`You are now known as ${name}.`);
        renderMembers();
    }
  }

  function onNickError(meta, f) {
    const text = f.message || f.code;
    state.nameBusy = false;
    switch (meta.purpose) {
      case 'choose':
        showNameScreen({ error: text });
        break;
      case 'auto':
        dom.nameInput.value = meta.name;
        showNameScreen({
          error: f.code === 'username_taken'
            ? `“${meta.name}” is in use right now. Try again in a moment, or pick another name.`
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
          notice(`Could not take back the name ${meta.name} (${text}). You are ${state.username} for now; use /nick to change it.`, 'error');
        }
        break;
      default:
        notice(`Could not change your name: ${text}`, 'error');
    }
  }

  function showNameScreen({ prefill, error } = {}) {
    state.screen = 'name';
    dom.body.dataset.screen = 'name';
    dom.nameScreen.hidden = false;
    dom.app.hidden = true;
    // Prefill the guest name unless the user has typed something of their own.
    if (prefill != null && (!dom.nameInput.value || dom.nameInput.value === state.namePrefill)) {
      dom.nameInput.value = prefill;
      state.namePrefill = prefill;
    }
    dom.nameError.textContent = error || '';
    dom.nameInput.setAttribute('aria-invalid', error ? 'true' : 'false');
    updateConnUi();
    dom.nameInput.focus();
    dom.nameInput.select();
  }

  function onNameSubmit(ev) {
    ev.preventDefault();
    const name = dom.nameInput.value.trim();
    if (!NAME_RE.test(name)) {
      showNameScreen({ error: 'Use 1–32 letters, digits, “_” or “-”.' });
      return;
    }
    if (!state.socketOpen || state.nameBusy) return;
    dom.nameError.textContent = '';
    if (name === state.username) {
      rememberName(name);
      enterChat();
      return;
    }
    takeName(name, 'choose');
  }

  function enterChat() {
    state.screen = 'chat';
    dom.body.dataset.screen = 'chat';
    dom.nameScreen.hidden = true;
    dom.app.hidden = false;
    renderMe();
    resume();
    renderAll();
    focusComposer(true);
  }

  // After the name is settled (first time or after a reconnect): (re-)join
  // rooms with `since` = the last id we hold, then resend what is pending.
  function resume() {
    state.ready = true;
    state.nameRetries = 0;
    updateConnUi();
    const joined = joinedRooms();
    if (joined.length) {
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
    flushPending((p) => p.kind === 'dm'); // room sends wait for their room's join Ack
    requestRoomList(false);
    clearInterval(state.roomListTimer);
    state.roomListTimer = setInterval(() => requestRoomList(false), ROOMLIST_EVERY_MS);
  }

  function loadSavedRooms() {
    let saved = [];
    try { saved = JSON.parse(readStore(sessionStorage, STORE_ROOMS) || '[]'); } catch { /* ignore */ }
    saved = Array.isArray(saved) ? saved.filter((n) => typeof n === 'string' && ROOM_RE.test(n)) : [];
    return saved.length ? saved : [DEFAULT_ROOM];
  }

  function saveRooms() {
    writeStore(sessionStorage, STORE_ROOMS, JSON.stringify(joinedRooms().map((r) => r.name)));
  }

  // ---------------------------------------------------------------- rooms

  function ensureRoom(name) {
    let room = state.rooms.get(name);
    if (!room) {
      room = { name, joined: false, live: false, count: 0, members: [], conv: null, joinReq: null };
      state.rooms.set(name, room);
    }
    return room;
  }

  const joinedRooms = () => [...state.rooms.values()].filter((r) => r.joined);
  const lastId = (conv) => (conv && conv.order.length ? conv.order[conv.order.length - 1] : undefined);
  const currentRoomName = () => (state.view && state.view.kind === 'room' ? state.view.key : null);

  function requestJoin(name, opts) {
    const room = ensureRoom(name);
    const ref = request({ type: 'JoinRoom', room: name, since: opts.since }, { kind: 'join', room: name, ...opts });
    if (ref) room.joinReq = { ref, since: opts.since };
    return ref;
  }

  // /join, the sidebar, the create-room box.
  function openRoom(input) {
    const name = normalizeRoom(input);
    if (!ROOM_RE.test(name)) {
      notice(`“${input}” is not a valid room name: use 1–64 of a–z, 0–9, “_” or “-”.`, 'error');
      return false;
    }
    const room = state.rooms.get(name);
    if (room && room.joined) {
      setView({ kind: 'room', key: name });
      return true;
    }
    if (!requireReady()) return false;
    requestJoin(name, { switchTo: true });
    return true;
  }

  function onJoinAck(meta, f) {
    const name = f.room || meta.room;
    const room = ensureRoom(name);
    room.joined = true;
    room.live = true;
    if (!room.conv) room.conv = newConv('room', name);
    saveRooms();
    if (meta.switchTo) setView({ kind: 'room', key: name });
    renderRooms();
    flushPending((p) => p.kind === 'room' && p.target === name);
    if (!meta.rejoin) requestRoomList(false);
  }

  function onJoinError(meta, f) {
    const room = state.rooms.get(meta.room);
    if (room) room.joinReq = null;
    notice(`Could not join #${meta.room}: ${f.message || f.code}`, 'error');
    if (meta.rejoin && room) {
      for (const p of state.pending.values()) {
        if (p.kind === 'room' && p.target === room.name && p.status === 'pending') markFailed(p, f.code, 'could not re-join the room');
      }
    }
  }

  function leaveRoom(input) {
    const name = normalizeRoom(input);
    const room = state.rooms.get(name);
    if (!room || !room.joined) {
      notice(`You are not in #${name}.`, 'error');
      return false;
    }
    if (!requireReady()) return false;
    request({ type: 'LeaveRoom', room: name }, { kind: 'leave', room: name });
    return true;
  }

  function onLeaveAck(meta, f) {
    const name = f.room || meta.room;
    const room = state.rooms.get(name);
    if (!room) return;
    dropPending(room.conv);
    room.joined = false;
    room.live = false;
    room.conv = null; // re-joining later starts from fresh history
    room.members = [];
    saveRooms();
    if (currentRoomName() === name) setView(fallbackView());
    renderRooms();
    requestRoomList(false);
  }

  function fallbackView() {
    const joined = joinedRooms().map((r) => r.name).sort();
    if (joined.length) return { kind: 'room', key: joined[0] };
    const dm = state.dms.keys().next();
    return dm.done ? null : { kind: 'dm', key: dm.value };
  }

  function requestRoomList(print) {
    if (!state.socketOpen) return false;
    request({ type: 'ListRooms' }, { kind: 'rooms', print });
    return true;
  }

  function onRoomList(f) {
    const meta = takeRef(f.ref);
    const list = Array.isArray(f.rooms) ? f.rooms : [];
    const seen = new Set();
    for (const info of list) {
      if (!info || typeof info.name !== 'string') continue;
      seen.add(info.name);
      ensureRoom(info.name).count = Number(info.members) || 0;
    }
    for (const [name, room] of state.rooms) {
      if (!seen.has(name) && !room.joined && !room.joinReq) state.rooms.delete(name);
    }
    renderRooms();
    if (meta && meta.print) {
      const line = list.map((r) => `#${r.name} (${r.members})`).join('  ·  ');
      notice(list.length ? `Rooms: ${line}. Click one in the sidebar or type /join name.` : 'No rooms yet.');
    }
  }

  function onMembers(f) {
    const room = state.rooms.get(f.room);
    if (!room || !room.joined) return;
    room.members = Array.isArray(f.usernames) ? f.usernames.slice() : [];
    membersChanged(room);
  }

  function onUserJoined(f) {
    const room = state.rooms.get(f.room);
    if (!room || !room.joined) return;
    if (!room.members.some((u) => sameName(u, f.username))) {
      room.members.push(f.username);
      room.members.sort();
    }
    membersChanged(room);
    if (!sameName(f.username, state.username)) notice(`${f.username} joined #${room.name}.`, 'presence', room.conv);
  }

  function onUserLeft(f) {
    const room = state.rooms.get(f.room);
    if (!room || !room.joined) return;
    room.members = room.members.filter((u) => !sameName(u, f.username));
    membersChanged(room);
    if (!sameName(f.username, state.username)) notice(`${f.username} left #${room.name}.`, 'presence', room.conv);
  }

  function membersChanged(room) {
    room.count = room.members.length;
    renderRooms();
    if (currentRoomName() === room.name) {
      renderMembers();
      renderHeader();
    }
  }

  const RENAME_RE = /^([A-Za-z0-9_-]{1,32}) is now known as ([A-Za-z0-9_-]{1,32})$/;

  function onSystem(f) {
    const content = String(f.content ?? '');
    const room = f.room ? state.rooms.get(f.room) : null;
    notice(content, 'server', room && room.conv ? room.conv : currentConv());
    const m = f.room ? RENAME_RE.exec(content) : null;
    if (m) renameDm(m[1], m[2]);
  }

  // A rename moves an open private conversation along with the person.
  function renameDm(from, to) {
    const dm = state.dms.get(lower(from));
    if (!dm || sameName(from, state.username) || state.dms.has(lower(to))) return;
    state.dms.delete(lower(from));
    dm.user = to;
    dm.conv.key = lower(to);
    state.dms.set(lower(to), dm);
    for (const p of state.pending.values()) {
      if (p.conv === dm.conv) { p.target = lower(to); p.to = to; }
    }
    renderEdge(dm.conv);
    notice(`${from} is now known as ${to}.`, 'server', dm.conv);
    if (state.view && state.view.kind === 'dm' && state.view.key === lower(from)) state.view = { kind: 'dm', key: lower(to) };
    renderDms();
    renderHeader();
    updateComposer();
  }

  // ---------------------------------------------------------------- private messages

  function ensureDm(user) {
    const key = lower(user);
    let dm = state.dms.get(key);
    if (!dm) {
      dm = { user, conv: newConv('dm', key) };
      state.dms.set(key, dm);
      renderEdge(dm.conv); // now that the conversation knows its person
    }
    return dm;
  }

  function openDm(user) {
    const name = String(user || '').trim().replace(/^@/, '');
    if (!NAME_RE.test(name)) {
      notice(`“${name}” is not a valid user name.`, 'error');
      return false;
    }
    if (sameName(name, state.username)) {
      notice('That is you. Pick someone else to talk to.', 'error');
      return false;
    }
    const dm = ensureDm(name);
    setView({ kind: 'dm', key: lower(dm.user) });
    renderDms();
    return true;
  }

  function closeDm(key) {
    const dm = state.dms.get(key);
    if (!dm) return;
    dropPending(dm.conv);
    state.dms.delete(key);
    if (state.view && state.view.kind === 'dm' && state.view.key === key) setView(fallbackView());
    renderDms();
  }

  function onPrivateMessage(f) {
    const mine = sameName(f.from, state.username);
    const other = mine ? f.to : f.from;
    if (typeof other !== 'string' || !other) return;
    const dm = ensureDm(other);
    mutate(dm.conv, () => placeMessage(dm.conv, { id: f.id, user: f.from, content: f.content, ts: f.timestamp, nonce: f.nonce }, { unread: true }));
    renderDms();
  }

  // ---------------------------------------------------------------- conversations

  function newConv(kind, key) {
    const root = el('div', 'conv');
    const edge = el('div', 'history-edge');
    root.append(edge);
    const conv = {
      kind, key, el: root, edge, order: [], byId: new Map(), unread: 0,
      hasOlder: false, loadingOlder: false, historyLoaded: false,
      stick: true, scrollTop: 0, newBelow: false,
    };
    renderEdge(conv);
    return conv;
  }

  function convOf(view) {
    if (!view) return state.lobby;
    if (view.kind === 'room') {
      const room = state.rooms.get(view.key);
      return room && room.conv ? room.conv : state.lobby;
    }
    const dm = state.dms.get(view.key);
    return dm ? dm.conv : state.lobby;
  }

  const currentConv = () => convOf(state.view);

  function setView(view) {
    const list = dom.messageList;
    const prev = currentConv();
    prev.scrollTop = list.scrollTop;
    state.view = view;
    const conv = currentConv();
    conv.unread = 0;
    list.setAttribute('aria-busy', 'true'); // do not read the whole swapped-in log aloud
    list.replaceChildren(conv.el);
    resizeObserver.disconnect();
    resizeObserver.observe(list);
    resizeObserver.observe(conv.el);
    if (conv.stick) scrollToBottom(); else list.scrollTop = conv.scrollTop;
    requestAnimationFrame(() => list.setAttribute('aria-busy', 'false'));
    if (view && view.kind === 'room') writeStore(sessionStorage, STORE_VIEW, view.key);
    renderAll();
    closeDrawers();
    focusComposer(false);
    maybeFill(conv);
  }

  function stepView(delta) {
    const views = [
      ...joinedRooms().map((r) => r.name).sort().map((key) => ({ kind: 'room', key })),
      ...[...state.dms.keys()].sort().map((key) => ({ kind: 'dm', key })),
    ];
    if (!views.length) return;
    const cur = views.findIndex((v) => state.view && v.kind === state.view.kind && v.key === state.view.key);
    setView(views[(cur + delta + views.length) % views.length]);
  }

  // ---- scrolling: stick to the bottom unless the user scrolled up; otherwise
  // keep whatever they are looking at in place while content changes above it.

  function atBottom() {
    const l = dom.messageList;
    return l.scrollHeight - l.scrollTop - l.clientHeight < 32;
  }

  function scrollToBottom() {
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
    const found = kids[lo] || null;
    // The history edge stays on top while pages are inserted below it: anchor on what follows it.
    return found === conv.edge ? found.nextElementSibling || found : found;
  }

  // Run fn, which changes conv's DOM, without making the view jump.
  function mutate(conv, fn) {
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

  function onListScroll() {
    const conv = currentConv();
    conv.stick = atBottom();
    if (conv.stick && conv.newBelow) {
      conv.newBelow = false;
      renderMarker();
    }
    if (dom.messageList.scrollTop < 300) loadOlder(conv);
  }

  // Keeps the bottom in view when the list or its content changes size
  // (composer growing, window resize, an error line appearing).
  const resizeObserver = new ResizeObserver(() => {
    if (currentConv().stick) scrollToBottom();
  });

  // ---- messages

  function buildMessage({ id, user, content, ts, own }) {
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
    const body = el('div', 'msg-body');
    renderText(body, String(content ?? ''));
    const status = el('span', 'msg-status');
    root.append(avatar(user), gutter, head, body, status);
    setMessageTime(root, ts);
    return root;
  }

  function setMessageTime(node, ts) {
    const d = parseTime(ts);
    node.dataset.ts = String(d.getTime());
    for (const t of node.querySelectorAll(':scope > .gutter-time, :scope > .msg-head > .msg-time')) {
      t.dateTime = d.toISOString();
      t.title = fmtFull.format(d);
      t.textContent = t.classList.contains('gutter-time') ? fmtTime.format(d) : shortTime(d);
    }
  }

  function regroup(node) {
    if (!node || !node.classList.contains('message')) return;
    const prev = node.previousElementSibling;
    const grouped = !!prev && prev.classList.contains('message') && !prev.classList.contains('failed') &&
      sameName(prev.dataset.user, node.dataset.user) &&
      Math.abs(Number(node.dataset.ts) - Number(prev.dataset.ts)) < GROUP_GAP_MS;
    node.classList.toggle('grouped', grouped);
  }

  // Puts a message element at its place by id (ids sort in delivery order);
  // messages not yet confirmed (.unplaced) always stay at the very end.
  function placeEl(conv, node, id) {
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

  // Adds a confirmed message (live, history, or the echo of our own send). Never shows an id twice.
  function placeMessage(conv, m, opts) {
    if (!m.id || conv.byId.has(m.id)) return;
    const p = m.nonce ? state.pending.get(m.nonce) : null;
    if (p && p.conv === conv && !p.id) {
      p.id = m.id;
      p.el.dataset.id = m.id;
      setMessageTime(p.el, m.ts);
      placeEl(conv, p.el, m.id);
      if (p.status === 'failed') markSent(p); // it got through after all
      return;
    }
    const own = sameName(m.user, state.username);
    const node = buildMessage({ ...m, own });
    const atEnd = placeEl(conv, node, m.id);
    if (opts.unread && !own) noteUnread(conv, atEnd);
  }

  function noteUnread(conv, atEnd) {
    const current = conv === currentConv() && state.screen === 'chat';
    if (!current) {
      conv.unread++;
      if (conv.kind === 'room') renderRooms(); else renderDms();
    } else if (!conv.stick && atEnd) {
      conv.newBelow = true;
      renderMarker();
    }
    if (document.hidden) state.hiddenUnread++;
    updateTitle();
  }

  function notice(text, kind = 'info', conv = currentConv()) {
    if (!conv) return;
    const line = el('div', `system-line ${kind}`, text);
    if (kind === 'error') line.setAttribute('role', 'alert');
    mutate(conv, () => conv.el.append(line));
  }

  function renderEdge(conv) {
    const edge = conv.edge;
    edge.replaceChildren();
    if (conv.kind === 'lobby') {
      edge.append(el('p', 'edge-title', 'Welcome to parley'),
        el('p', 'edge-text', 'Pick a room on the left, create one, or type /help for commands.'));
    } else if (conv.kind === 'dm') {
      const dm = state.dms.get(conv.key);
      edge.append(el('p', 'edge-text', `Private conversation with ${dm ? dm.user : conv.key}. The server keeps no private history for you: this conversation lives in this page and starts empty after a reload.`));
    } else if (conv.loadingOlder) {
      edge.append(el('p', 'edge-text', 'Loading older messages…'));
    } else if (conv.hasOlder) {
      const b = button('load-older', 'Load older messages');
      b.dataset.action = 'older';
      edge.append(b);
    } else if (conv.historyLoaded) {
      edge.append(el('p', 'edge-text', `This is the beginning of #${conv.key}.`));
    }
  }

  // ---- history

  function onHistory(f) {
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

  // A re-join with `since` returns the newest (at most 1000) messages after it;
  // when truncated, page back with `before` until we meet `since`.
  function continueGap(room, since, msgs, truncated) {
    if (!truncated || !msgs.length || msgs[0].id <= since) return;
    request({ type: 'History', room: room.name, before: msgs[0].id, limit: GAP_PAGE }, { kind: 'gap', room: room.name, since });
  }

  function loadOlder(conv) {
    if (conv.kind !== 'room' || !conv.hasOlder || conv.loadingOlder || !conv.order.length) return;
    const room = state.rooms.get(conv.key);
    if (!room || !room.live || !state.ready) return;
    if (request({ type: 'History', room: room.name, before: conv.order[0], limit: HISTORY_PAGE }, { kind: 'older', room: room.name })) {
      conv.loadingOlder = true;
      mutate(conv, () => renderEdge(conv));
    }
  }

  // If the history does not fill the view there is nothing to scroll (or the
  // user is still at the top after a short page): fetch more.
  function maybeFill(conv) {
    if (conv !== currentConv()) return;
    const l = dom.messageList;
    if (l.scrollHeight <= l.clientHeight + 40 || (!conv.stick && l.scrollTop < 300)) loadOlder(conv);
  }

  // ---------------------------------------------------------------- sending

  function sendChat(text) {
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
    const frame = view.kind === 'room'
      ? { type: 'SendMessage', room: target, content, nonce, ref: '0000000000' }
      : { type: 'PrivateMessage', to, content, nonce, ref: '0000000000' };
    if (utf8Bytes(JSON.stringify(frame)) > MAX_FRAME_BYTES) {
      notice('That message is too large to send; please shorten it.', 'error');
      return false;
    }
    const node = buildMessage({ user: state.username || 'you', content, own: true });
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
    if (p.status !== 'pending' || p.sentOn === state.connId || !canTransmit(p)) return;
    const frame = p.kind === 'room'
      ? { type: 'SendMessage', room: p.target, content: p.content, nonce: p.nonce }
      : { type: 'PrivateMessage', to: p.to, content: p.content, nonce: p.nonce };
    if (request(frame, { kind: 'send', nonce: p.nonce })) {
      if (p.sentOn) p.resent = true;
      p.sentOn = state.connId;
      setStatusText(p);
    }
  }

  function flushPending(filter) {
    for (const p of state.pending.values()) if (filter(p)) transmit(p);
  }

  function onSendAck(meta, f) {
    const p = state.pending.get(meta.nonce);
    if (!p) return;
    if (f.id && !p.id) {
      const other = p.conv.byId.get(f.id);
      p.id = f.id;
      p.el.dataset.id = f.id;
      if (f.timestamp) setMessageTime(p.el, f.timestamp);
      if (other && other !== p.el) {
        // The message arrived without its nonce: keep that copy, drop ours.
        mutate(p.conv, () => {
          const next = p.el.nextElementSibling;
          p.el.remove();
          regroup(next);
        });
        other.classList.add('own');
        p.el = other;
      } else if (!other) {
        mutate(p.conv, () => placeEl(p.conv, p.el, f.id));
      }
    }
    markSent(p);
  }

  function onSendError(meta, f) {
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
    markFailed(p, f.code, f.message || f.code);
    // Keep the text: if the composer is empty, put it back there too.
    if (p.conv === currentConv() && !dom.input.value) {
      dom.input.value = p.content;
      onInput();
    }
  }

  function setStatusText(p) {
    const s = p.el.querySelector(':scope > .msg-status');
    if (!s) return;
    const queued = p.status === 'pending' && p.sentOn !== state.connId;
    s.textContent = p.status === 'pending' ? (queued ? 'queued' : 'sending…') : p.status === 'failed' ? 'not sent' : '';
    s.title = queued ? 'Will be sent as soon as the connection is back' : '';
  }

  function refreshPendingStatus() {
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

  function markFailed(p, code, message) {
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

  function retryPending(nonce) {
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

  function discardPending(nonce) {
    const p = state.pending.get(nonce);
    if (!p) return;
    clearTimeout(p.retryTimer);
    state.pending.delete(nonce);
    mutate(p.conv, () => {
      const next = p.el.nextElementSibling;
      if (p.id) {
        p.conv.byId.delete(p.id);
        p.conv.order = p.conv.order.filter((x) => x !== p.id);
      }
      p.el.remove();
      regroup(next);
    });
  }

  function dropPending(conv) {
    if (!conv) return;
    for (const p of [...state.pending.values()]) {
      if (p.conv === conv) {
        clearTimeout(p.retryTimer);
        state.pending.delete(p.nonce);
      }
    }
  }

  // ---------------------------------------------------------------- replies

  function onAck(f) {
    const meta = takeRef(f.ref);
    if (!meta) return;
    switch (meta.kind) {
      case 'nick': onNickAck(meta, f); break;
      case 'join': onJoinAck(meta, f); break;
      case 'leave': onLeaveAck(meta, f); break;
      case 'send': onSendAck(meta, f); break;
      default: break;
    }
  }

  function onError(f) {
    const meta = takeRef(f.ref);
    const text = f.message || f.code || 'error';
    switch (meta && meta.kind) {
      case 'nick': onNickError(meta, f); break;
      case 'join': onJoinError(meta, f); break;
      case 'send': onSendError(meta, f); break;
      case 'leave': notice(`Could not leave #${meta.room}: ${text}`, 'error'); break;
      case 'older': {
        const room = state.rooms.get(meta.room);
        if (room && room.conv) {
          room.conv.loadingOlder = false;
          mutate(room.conv, () => renderEdge(room.conv));
        }
        notice(`Could not load older messages: ${text}`, 'error');
        break;
      }
      case 'gap': notice(`Some missed messages could not be loaded: ${text}`, 'error'); break;
      default:
        if (state.screen === 'chat') notice(text, 'error');
        else dom.nameError.textContent = text;
    }
  }

  function onRoomMessage(f) {
    const room = state.rooms.get(f.room);
    if (!room || !room.joined || !room.conv) return;
    const conv = room.conv;
    mutate(conv, () => placeMessage(conv, { id: f.id, user: f.username, content: f.content, ts: f.timestamp, nonce: f.nonce }, { unread: true }));
  }

  const HANDLERS = {
    Welcome: onWelcome,
    Ack: onAck,
    Error: onError,
    Message: onRoomMessage,
    PrivateMessage: onPrivateMessage,
    SystemMessage: onSystem,
    UserJoined: onUserJoined,
    UserLeft: onUserLeft,
    RoomList: onRoomList,
    History: onHistory,
    Members: onMembers,
  };

  // ---------------------------------------------------------------- commands

  function requireReady() {
    if (state.ready) return true;
    notice('Not connected right now. Try again when the banner at the top is gone.', 'error');
    return false;
  }

  // Returns true when the command was accepted (the composer is then cleared).
  function runCommand(line) {
    const m = /^\/(\S+)\s*([\s\S]*)$/.exec(line);
    if (!m) return false;
    const cmd = lower(m[1]);
    const args = m[2].trim();
    switch (cmd) {
      case 'nick':
      case 'name':
        if (!NAME_RE.test(args)) {
          notice('Usage: /nick name (1–32 letters, digits, “_” or “-”).', 'error');
          return false;
        }
        if (args === state.username) {
          notice(`You are already ${args}.`);
          return true;
        }
        if (!requireReady()) return false;
        takeName(args, 'command');
        return true;
      case 'join':
        if (!args) {
          notice('Usage: /join room', 'error');
          return false;
        }
        return openRoom(args.split(/\s+/)[0]);
      case 'pm':
      case 'msg': {
        const pm = /^(\S+)(?:\s+([\s\S]*))?$/.exec(args);
        if (!pm) {
          notice('Usage: /pm user [message]', 'error');
          return false;
        }
        if (!openDm(pm[1])) return false;
        if (pm[2] && pm[2].trim()) return sendChat(pm[2]);
        return true;
      }
      case 'rooms':
      case 'list':
        if (!requireReady()) return false;
        return requestRoomList(true);
      case 'leave':
      case 'part':
        if (args) return leaveRoom(args);
        if (state.view && state.view.kind === 'dm') {
          closeDm(state.view.key);
          return true;
        }
        if (!currentRoomName()) {
          notice('You are not in a room.', 'error');
          return false;
        }
        return leaveRoom(currentRoomName());
      case 'help':
      case '?':
        showHelp();
        return true;
      default:
        notice(`Unknown command /${m[1]}. Type /help to see the commands.`, 'error');
        return false;
    }
  }

  function showHelp() {
    const lines = ['Commands:'];
    for (const [name, args, what] of COMMANDS) lines.push(`  ${name}${args ? ' ' + args : ''}  —  ${what}`);
    lines.push('Enter sends, Shift+Enter starts a new line, “//text” sends text that starts with “/”.');
    lines.push('Alt+↑ / Alt+↓ switch conversations; Escape closes the side panels.');
    notice(lines.join('\n'), 'help');
  }

  // ---------------------------------------------------------------- composer

  const FIELD_SIZING = typeof CSS !== 'undefined' && CSS.supports && CSS.supports('field-sizing', 'content');

  function onInput() {
    if (!FIELD_SIZING) {
      // CSSOM property writes are allowed by the CSP (only style attributes are not).
      dom.input.style.height = 'auto';
      dom.input.style.height = `${Math.min(dom.input.scrollHeight, 200)}px`;
    }
    const n = dom.input.value.length > MAX_CONTENT - 500 ? codePoints(dom.input.value) : 0;
    dom.charCount.hidden = n <= MAX_CONTENT - 500;
    dom.charCount.textContent = `${n} / ${MAX_CONTENT}`;
    dom.charCount.classList.toggle('over', n > MAX_CONTENT);
  }

  function submitComposer() {
    const raw = dom.input.value;
    if (!raw.trim()) return;
    let ok;
    if (raw.trimStart().startsWith('/') && !raw.trimStart().startsWith('//')) ok = runCommand(raw.trim());
    else ok = sendChat(raw.trimStart().startsWith('//') ? raw.trimStart().slice(1) : raw);
    if (ok) {
      dom.input.value = '';
      onInput();
    }
  }

  let swallowEnter = false;

  function onComposerKey(ev) {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
      ev.preventDefault();
      swallowEnter = true;
      submitComposer();
    }
  }

  // Some input paths (automation, a few IMEs) still deliver the newline of an
  // Enter whose keydown was cancelled: drop it until the key is released.
  function onComposerBeforeInput(ev) {
    if (!swallowEnter) return;
    const newline = ev.inputType === 'insertLineBreak' || ev.inputType === 'insertParagraph' ||
      (ev.inputType === 'insertText' && /^[\r\n]+$/.test(ev.data || ''));
    if (newline) ev.preventDefault();
  }

  function focusComposer(always) {
    // Do not pop up the on-screen keyboard on touch devices unless asked.
    if (always || window.matchMedia('(pointer: fine)').matches) dom.input.focus();
  }

  function updateComposer() {
    const view = state.view;
    let ph = 'Type /join room to start';
    if (view && view.kind === 'room') ph = `Message #${view.key}`;
    else if (view && view.kind === 'dm') ph = `Message ${state.dms.get(view.key)?.user ?? view.key}`;
    dom.input.placeholder = ph;
  }

  // ---------------------------------------------------------------- rendering

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

  function renderRooms() {
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
    const parts = [`#${name}`, plural(n, 'member')];
    if (unread) parts.push(`${unread} unread`);
    parts.push(room.joined ? 'joined' : 'click to join');
    open.setAttribute('aria-label', parts.join(', '));
    li.querySelector('.room-leave').hidden = !room.joined;
  }

  function renderDms() {
    const keys = [...state.dms.keys()].sort();
    syncList(dom.dmList, keys, makeDmItem, updateDmItem);
    dom.dmEmpty.hidden = keys.length > 0;
  }

  function makeDmItem(key) {
    const dm = state.dms.get(key);
    const li = el('li', 'dm');
    const open = button('dm-open');
    open.append(avatar(dm.user, 'small'), el('span', 'dm-name', dm.user));
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
    setBadge(open, dm.conv.unread, null);
    open.setAttribute('aria-label', `Private conversation with ${dm.user}${dm.conv.unread ? `, ${dm.conv.unread} unread` : ''}`);
  }

  function renderMembers() {
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
    dom.membersToggle.setAttribute('aria-label', `Show members (${names.length})`);
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
    b.setAttribute('aria-label', self ? `${name} (you)` : `Send a private message to ${name}`);
  }

  function renderHeader() {
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

  function renderMarker() {
    dom.marker.hidden = !currentConv().newBelow;
  }

  function renderMe() {
    dom.meName.textContent = state.username || '';
  }

  function updateTitle() {
    let total = 0;
    for (const r of state.rooms.values()) if (r.conv) total += r.conv.unread;
    for (const d of state.dms.values()) total += d.conv.unread;
    if (document.hidden) total += state.hiddenUnread;
    document.title = total ? `(${total}) parley` : 'parley';
  }

  function renderAll() {
    renderHeader();
    renderRooms();
    renderDms();
    renderMembers();
    renderMarker();
    updateComposer();
    updateTitle();
  }

  // ---------------------------------------------------------------- drawers (narrow screens)

  function openDrawer(which) {
    closeDrawers();
    const cls = which === 'sidebar' ? 'sidebar-open' : 'members-open';
    const toggle = which === 'sidebar' ? dom.sidebarToggle : dom.membersToggle;
    dom.app.classList.add(cls);
    toggle.setAttribute('aria-expanded', 'true');
    dom.backdrop.hidden = false;
    const panel = which === 'sidebar' ? dom.sidebar : dom.memberPanel;
    const first = panel.querySelector('button:not([disabled]), input');
    if (first) first.focus();
  }

  function closeDrawers(returnFocusTo) {
    const wasOpen = dom.app.classList.contains('sidebar-open') || dom.app.classList.contains('members-open');
    dom.app.classList.remove('sidebar-open', 'members-open');
    dom.sidebarToggle.setAttribute('aria-expanded', 'false');
    dom.membersToggle.setAttribute('aria-expanded', 'false');
    dom.backdrop.hidden = true;
    if (wasOpen && returnFocusTo) returnFocusTo.focus();
  }

  function toggleDrawer(which) {
    const cls = which === 'sidebar' ? 'sidebar-open' : 'members-open';
    if (dom.app.classList.contains(cls)) closeDrawers(which === 'sidebar' ? dom.sidebarToggle : dom.membersToggle);
    else openDrawer(which);
  }

  // ---------------------------------------------------------------- wiring

  function wire() {
    dom.nameForm.addEventListener('submit', onNameSubmit);
    dom.bannerRetry.addEventListener('click', reconnectNow);

    dom.composer.addEventListener('submit', (ev) => { ev.preventDefault(); submitComposer(); });
    dom.input.addEventListener('keydown', onComposerKey);
    dom.input.addEventListener('beforeinput', onComposerBeforeInput);
    dom.input.addEventListener('keyup', (ev) => { if (ev.key === 'Enter') swallowEnter = false; });
    dom.input.addEventListener('blur', () => { swallowEnter = false; });
    dom.input.addEventListener('input', onInput);

    dom.newRoomForm.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const v = dom.newRoomInput.value.trim();
      if (v && openRoom(v)) dom.newRoomInput.value = '';
    });

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
    dom.messageList.addEventListener('click', (ev) => {
      const b = ev.target.closest('button[data-action]');
      if (!b) return;
      const msg = b.closest('.message');
      if (b.dataset.action === 'older') loadOlder(currentConv());
      else if (msg && b.dataset.action === 'retry') retryPending(msg.dataset.nonce);
      else if (msg && b.dataset.action === 'discard') discardPending(msg.dataset.nonce);
    });

    dom.marker.addEventListener('click', () => {
      const conv = currentConv();
      conv.stick = true;
      conv.newBelow = false;
      scrollToBottom();
      renderMarker();
      focusComposer(false);
    });

    dom.leaveButton.addEventListener('click', () => {
      if (!state.view) return;
      if (state.view.kind === 'dm') closeDm(state.view.key); else leaveRoom(state.view.key);
    });

    dom.renameButton.addEventListener('click', () => {
      dom.input.value = '/nick ';
      onInput();
      closeDrawers();
      dom.input.focus();
    });

    dom.sidebarToggle.addEventListener('click', () => toggleDrawer('sidebar'));
    dom.membersToggle.addEventListener('click', () => toggleDrawer('members'));
    dom.backdrop.addEventListener('click', () => closeDrawers());

    document.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') closeDrawers(dom.input);
      if (ev.altKey && (ev.key === 'ArrowUp' || ev.key === 'ArrowDown') && state.screen === 'chat') {
        ev.preventDefault();
        stepView(ev.key === 'ArrowUp' ? -1 : 1);
      }
    });

    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) {
        state.hiddenUnread = 0;
        updateTitle();
        reconnectNow(); // phones suspend timers in the background; catch up at once
      }
    });
    window.addEventListener('online', reconnectNow);
  }

  function init() {
    state.lobby = newConv('lobby', '');
    dom.messageList.replaceChildren(state.lobby.el);
    resizeObserver.observe(dom.messageList);
    resizeObserver.observe(state.lobby.el);
    dom.body.dataset.screen = 'connecting';
    if (state.chosenName) dom.nameInput.value = state.chosenName;
    wire();
    updateConnUi();
    renderAll();
    connect();
  }

  // Read-only view of the state, for debugging and the browser tests.
  function snapshot() {
    const pending = [...state.pending.values()];
    return {
      connected: state.ready,
      socketOpen: state.socketOpen,
      screen: state.screen,
      username: state.username,
      currentRoom: currentRoomName(),
      currentDm: state.view && state.view.kind === 'dm' ? state.dms.get(state.view.key)?.user ?? null : null,
      rooms: joinedRooms().map((r) => r.name).sort(),
      dms: [...state.dms.values()].map((d) => d.user),
      pending: pending.filter((p) => p.status === 'pending').length,
      failed: pending.filter((p) => p.status === 'failed').length,
    };
  }

  Object.defineProperty(window, 'parley', { value: Object.freeze({ state: snapshot }), enumerable: false });

  init();
})();
