// The offline shell: registers the service worker (sw.js), which keeps a
// copy of this page and serves it when the server cannot be reached. Such a
// page does not yet know who it is (the API is down too): it says it cannot
// reach the server (banner.js) and asks again with backoff, then starts as
// it would have (account.js begin).

import { BACKOFF_BASE_MS, BACKOFF_MAX_MS } from './config.js';
import { state } from './state.js';

export function registerShell() {
  if (!('serviceWorker' in navigator) || !window.isSecureContext) return;
  navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(() => {
    // No offline copy (e.g. storage disabled): the page works as before.
  });
}

// state.unreachable while waiting: {attempt, at, timer, tick, retry, onStatus}.

// waitForServer calls retry after a backoff, showing the wait through onStatus.
export function waitForServer(retry, onStatus) {
  const u = state.unreachable || { attempt: 0 };
  clearTimeout(u.timer);
  clearInterval(u.tick);
  const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (u.attempt + 1));
  const delay = cap / 2 + Math.random() * (cap / 2);
  u.attempt++;
  u.at = Date.now() + delay;
  u.retry = retry;
  u.onStatus = onStatus;
  u.timer = setTimeout(() => fire(u), delay);
  u.tick = setInterval(onStatus, 1000);
  state.unreachable = u;
  onStatus();
}

function fire(u) {
  clearTimeout(u.timer);
  clearInterval(u.tick);
  u.timer = null;
  u.retry();
}

// retryNow asks at once if the page is waiting for the server; returns
// whether it was (the connection's own retry is then not for now).
export function retryNow() {
  const u = state.unreachable;
  if (!u) return false;
  if (u.timer) fire(u);
  return true;
}

// serverReached ends the wait.
export function serverReached() {
  const u = state.unreachable;
  if (!u) return;
  clearTimeout(u.timer);
  clearInterval(u.tick);
  state.unreachable = null;
  u.onStatus();
}
