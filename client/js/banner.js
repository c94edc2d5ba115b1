// What the page says about the connection: the banner at the top (lost,
// reconnecting in n s, catching up, taking the name back), the body's
// data-conn, and the name screen's submit button and status line.

import { conn } from './connection.js';
import { dom } from './dom.js';
import { state } from './state.js';

export function updateConnUi() {
  const r = conn.reconnect;
  let text = null;
  let countdown = '';
  if (conn.socketOpen) {
    if (state.screen === 'chat' && !state.ready) {
      if (!state.nameWait) text = 'Reconnected. Catching up…';
      else if (state.nameRetries) text = `Reconnected. Waiting for the server to release the name “${state.nameWait}”…`;
      else text = `Reconnected. Signing in as ${state.nameWait}…`;
    }
  } else if (state.unreachable) {
    // The page itself came from the offline copy: nothing is known yet but that.
    text = 'Can’t reach the server. Retrying';
    if (state.unreachable.timer) countdown = `in ${Math.max(0, Math.ceil((state.unreachable.at - Date.now()) / 1000))} s…`;
  } else if (r.timer) {
    // Never in touch since this page loaded (it may be the offline copy, sw.js): say so plainly.
    text = state.everWelcomed ? `${r.reason} Reconnecting` : 'Can’t reach the server. Retrying';
    countdown = `in ${Math.max(0, Math.ceil((r.at - Date.now()) / 1000))} s…`;
  } else if (conn.ws && conn.connId > 1) {
    text = 'Reconnecting…';
  }
  dom.banner.hidden = !text;
  dom.offlineScreen.hidden = !(state.unreachable && state.screen === 'connecting');
  if (text && dom.bannerText.textContent !== text) dom.bannerText.textContent = text;
  dom.bannerCountdown.textContent = countdown;
  dom.bannerRetry.hidden = !r.timer && !state.unreachable?.timer;
  dom.body.dataset.conn = state.ready ? 'online' : conn.socketOpen ? 'syncing' : 'offline';
  dom.nameSubmit.disabled = !conn.socketOpen || state.nameBusy;
  updateNameStatus();
}

function updateNameStatus() {
  let s = '';
  if (!conn.socketOpen) s = conn.reconnect.timer ? 'Cannot reach the server yet…' : 'Connecting…';
  else if (state.nameBusy) s = 'Checking that name…';
  dom.nameStatus.textContent = s;
}
