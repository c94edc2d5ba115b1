// Desktop notifications (opt-in: the "Desktop notifications" box in the
// sidebar, remembered in localStorage) for private messages and for room
// messages that mention us (a Message's `mentions`), shown only while the
// page is hidden: a visible page has its own badges and title count.
// Clicking one brings the page forward on that conversation.

import { dom } from './dom.js';
import { state } from './state.js';
import { lower, readStore, sameName, writeStore } from './util.js';
import { setView } from './view.js';

const STORE_NOTIFY = 'parley.notify';
const BODY_CHARS = 160;

const supported = () => typeof window.Notification === 'function';
const enabled = () => supported() && readStore(localStorage, STORE_NOTIFY) === 'on' && Notification.permission === 'granted';

// pageHidden: the one place the page asks whether it is out of sight.
export function pageHidden() {
  return document.visibilityState === 'hidden';
}

function renderToggle(note) {
  dom.notifySetting.hidden = !supported();
  if (!supported()) return;
  dom.notifyToggle.checked = enabled();
  let text = note || '';
  if (!text && readStore(localStorage, STORE_NOTIFY) === 'on' && Notification.permission === 'denied') {
    text = 'Blocked in this browser’s site settings.';
  }
  dom.notifyStatus.textContent = text;
}

async function onToggle() {
  if (!dom.notifyToggle.checked) {
    writeStore(localStorage, STORE_NOTIFY, null);
    renderToggle();
    return;
  }
  let perm = Notification.permission;
  if (perm === 'default') {
    try { perm = await Notification.requestPermission(); } catch { perm = 'denied'; }
  }
  if (perm === 'granted') {
    writeStore(localStorage, STORE_NOTIFY, 'on');
    renderToggle();
  } else {
    writeStore(localStorage, STORE_NOTIFY, null);
    renderToggle('The browser did not allow notifications.');
  }
}

export function wireNotify() {
  renderToggle();
  if (supported()) dom.notifyToggle.addEventListener('change', onToggle);
}

function clip(text) {
  const chars = [...String(text ?? '')];
  return chars.length > BODY_CHARS ? `${chars.slice(0, BODY_CHARS).join('')}…` : chars.join('');
}

function show(title, body, tag, view) {
  let n;
  try {
    n = new Notification(title, { body, tag });
  } catch {
    return; // e.g. a platform that only notifies from a service worker
  }
  n.onclick = () => {
    window.focus();
    if (state.screen === 'chat') setView(view);
    n.close();
  };
}

// A live room message, f as the server sent it.
export function notifyRoomMessage(f) {
  if (!enabled() || !pageHidden() || !state.username || sameName(f.username, state.username)) return;
  const me = lower(state.username);
  if (!Array.isArray(f.mentions) || !f.mentions.some((n) => typeof n === 'string' && lower(n) === me)) return;
  show(`${f.username} mentioned you in #${f.room}`, clip(f.content), `parley-room-${f.room}`, { kind: 'room', key: f.room });
}

// A live private message, f as the server sent it.
export function notifyPrivateMessage(f) {
  if (!enabled() || !pageHidden() || !state.username || sameName(f.from, state.username)) return;
  show(`${f.from} (private message)`, clip(f.content), `parley-dm-${lower(f.from)}`, { kind: 'dm', key: lower(f.from) });
}
