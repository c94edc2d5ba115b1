// Accounts on the page: the sign-in screen (sign in, create an account, or
// continue as a guest), the account menu (log out here or everywhere, change
// password), and the accounts API's answers in plain words. The session is
// the server's HttpOnly parley_session cookie: the page never holds a token,
// and the WebSocket's upgrade carries the cookie by itself. Who we are changes only through a
// reload (signing out, or a guest going to sign in), so that nothing of one
// person's chat is left on the page for the next.

import { updateConnUi } from './banner.js';
import {
  NAME_RE, PASSWORD_MAX_BYTES, PASSWORD_MIN_BYTES, STORE_NAME, STORE_ROOMS, STORE_SIGNIN, STORE_VIEW,
} from './config.js';
import { connect, stop } from './connection.js';
import { dom } from './dom.js';
import { notice } from './messagelist.js';
import { serverReached, waitForServer } from './offline.js';
import { showNameScreen, showSigninScreen } from './screens.js';
import { state } from './state.js';
import { readStore, utf8Bytes, writeStore } from './util.js';

// api calls the accounts API. Its POSTs are checked for Origin: with the
// page's no-referrer policy a browser would send "Origin: null", so this
// request says same-origin. Resolves to {status, error, data, retryAfter};
// status 0 and error 'network' when the server could not be reached.
async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', cache: 'no-store', referrerPolicy: 'same-origin', headers: {} };
  if (body) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    return { status: 0, error: 'network', data: {}, retryAfter: 0 };
  }
  let data = {};
  try { data = await res.json(); } catch { /* 204, or not JSON */ }
  return {
    status: res.status,
    error: res.ok ? null : (data && data.error) || `http_${res.status}`,
    data: data || {},
    retryAfter: Number(res.headers.get('Retry-After')) || 0,
  };
}

function waitWords(seconds) {
  if (seconds >= 90) return `${Math.ceil(seconds / 60)} minutes`;
  return seconds <= 1 ? 'a second' : `${seconds} seconds`;
}

// What an API error means, in plain words.
function words(r) {
  switch (r.error) {
    case 'bad_credentials': return 'That name and password do not match. Check both and try again.';
    case 'username_taken': return 'That name, or one that reads like it, already belongs to an account.';
    case 'invalid_username': return 'That name is reserved. Pick another.';
    case 'weak_password': return 'Use at least 8 characters, and not your name.';
    case 'rate_limited': return `Too many attempts. Try again in ${waitWords(r.retryAfter || 60)}.`;
    case 'unauthorized': return 'You are signed out. Reload the page to sign in again.';
    case 'network': return 'Cannot reach the server. Check your connection and try again.';
    default: return `The server refused this (${r.error}). Try again later.`;
  }
}

function setFieldError(input, errEl, text) {
  errEl.textContent = text || '';
  input.setAttribute('aria-invalid', text ? 'true' : 'false');
}

// ------------------------------------------------------------ the sign-in screen

let mode = 'login'; // or 'register'

function setMode(m) {
  mode = m;
  const reg = m === 'register';
  dom.signinTitle.textContent = reg ? 'Create an account' : 'Sign in';
  dom.signinSubmit.textContent = reg ? 'Create account' : 'Sign in';
  dom.signinSwitchText.textContent = reg ? 'Have an account?' : 'New here?';
  dom.signinMode.textContent = reg ? 'Sign in' : 'Create an account';
  dom.signinPass.autocomplete = reg ? 'new-password' : 'current-password';
  dom.signinPassHint.hidden = !reg;
  clearSigninErrors();
}

function clearSigninErrors() {
  setFieldError(dom.signinUser, dom.signinUserError, '');
  setFieldError(dom.signinPass, dom.signinPassError, '');
  dom.signinError.textContent = '';
}

async function onSigninSubmit(ev) {
  ev.preventDefault();
  if (state.signinBusy) return;
  clearSigninErrors();
  const reg = mode === 'register';
  const username = dom.signinUser.value.trim();
  const password = dom.signinPass.value;
  let bad = false;
  if (!username) {
    setFieldError(dom.signinUser, dom.signinUserError, 'Enter your name.');
    bad = true;
  } else if (reg && !NAME_RE.test(username)) {
    setFieldError(dom.signinUser, dom.signinUserError, 'Use 1–32 letters, digits, “_” or “-”.');
    bad = true;
  }
  if (!password) {
    setFieldError(dom.signinPass, dom.signinPassError, 'Enter your password.');
    bad = true;
  } else if (reg && (utf8Bytes(password) < PASSWORD_MIN_BYTES || utf8Bytes(password) > PASSWORD_MAX_BYTES)) {
    setFieldError(dom.signinPass, dom.signinPassError, 'Use at least 8 characters (and at most 1024 bytes).');
    bad = true;
  }
  if (bad) {
    (dom.signinUser.getAttribute('aria-invalid') === 'true' ? dom.signinUser : dom.signinPass).focus();
    return;
  }
  state.signinBusy = true;
  dom.signinSubmit.disabled = true;
  dom.signinStatus.textContent = reg ? 'Creating your account…' : 'Signing in…';
  const r = await api('POST', reg ? '/api/register' : '/api/login', { username, password });
  state.signinBusy = false;
  dom.signinSubmit.disabled = false;
  dom.signinStatus.textContent = '';
  if (r.error) {
    const text = words(r);
    if (r.error === 'username_taken' || r.error === 'invalid_username') {
      setFieldError(dom.signinUser, dom.signinUserError, text);
      dom.signinUser.focus();
    } else if (r.error === 'bad_credentials' || r.error === 'weak_password') {
      setFieldError(dom.signinPass, dom.signinPassError, text);
      dom.signinPass.focus();
      dom.signinPass.select();
    } else {
      dom.signinError.textContent = text;
    }
    return;
  }
  dom.signinPass.value = '';
  startAccount(r.data.username || username);
}

// startAccount connects as the account (the cookie goes with the upgrade);
// the Welcome takes us to the chat.
function startAccount(name) {
  state.account = name;
  state.chosenName = null;
  writeStore(localStorage, STORE_NAME, null); // a guest name is no longer ours to take back
  dom.signinStatus.textContent = 'Connecting…';
  stop();
  connect();
}

// continueAsGuest connects without a session. quiet: a returning guest whose
// name is remembered goes straight to the chat, as before accounts.
export function continueAsGuest({ quiet } = {}) {
  if (state.guestsOff) return;
  state.account = null;
  if (!quiet) showNameScreen({});
  connect();
}

// reloadToSignin reloads the page to the sign-in screen, with note above the form.
function reloadToSignin(note) {
  writeStore(sessionStorage, STORE_SIGNIN, note || '');
  location.reload();
}

function forgetChat() {
  writeStore(sessionStorage, STORE_ROOMS, null);
  writeStore(sessionStorage, STORE_VIEW, null);
  writeStore(localStorage, STORE_NAME, null);
}

// begin decides the first screen: the account's chat when the cookie holds a
// session, a remembered guest's chat, or the sign-in screen.
export async function begin(kept) {
  const note = kept !== undefined ? kept : readStore(sessionStorage, STORE_SIGNIN);
  writeStore(sessionStorage, STORE_SIGNIN, null);
  const r = await api('GET', '/api/me');
  if (r.status === 0) {
    // Unreachable (a reload while the server is down: the offline shell,
    // sw.js). Who we are is not known yet: ask again, then decide.
    waitForServer(() => begin(note), updateConnUi);
    return;
  }
  serverReached();
  if (r.status === 200 && r.data.username) {
    state.account = r.data.username;
    connect();
    return;
  }
  if (note == null && state.chosenName) {
    continueAsGuest({ quiet: true });
    return;
  }
  showSigninScreen({ note: r.status === 0 ? words(r) : note || '' });
}

// ------------------------------------------------------------ the connection's verdicts

let checking = false;

// onRefused: a socket closed before it opened. The server may be down (keep
// retrying), or it may have refused the upgrade with 401, which the page
// cannot see: the API tells. A 401 there means an account's session has
// ended; for a guest whose page was never let in, that guests are off.
export async function onRefused() {
  if (checking) return;
  if (!state.account && state.everWelcomed) return;
  checking = true;
  const r = await api('GET', '/api/me');
  checking = false;
  if (r.status !== 401) return; // unreachable, or a session after all: the next attempt sends it
  stop();
  if (state.account) {
    forgetChat();
    reloadToSignin('Your session has ended. Sign in again.');
    return;
  }
  state.guestsOff = true;
  showSigninScreen({ note: 'This server does not allow guests: sign in or create an account.' });
}

// onEnded: the server closed our socket because the session ended (logged
// out in another tab, or a password change elsewhere).
export function onEnded() {
  forgetChat();
  reloadToSignin('You were signed out.');
}

// onLostSession: the server greeted us as a guest while we thought we were
// an account: the session is gone.
export function onLostSession() {
  stop();
  forgetChat();
  reloadToSignin('Your session has ended. Sign in again.');
}

// ------------------------------------------------------------ the account menu

// everywhere: end every session of the account (/api/logout-all), not only this one.
async function logOut(everywhere) {
  const b = everywhere ? dom.logoutAllButton : dom.logoutButton;
  b.disabled = true;
  // Our own sockets first, so that their 1008 is not taken for an ending
  // from elsewhere.
  stop();
  const r = await api('POST', everywhere ? '/api/logout-all' : '/api/logout');
  // A 401 from logout-all: the session had ended already, which is as good.
  if (r.status === 0 || (everywhere && r.error && r.status !== 401)) {
    b.disabled = false;
    connect();
    notice(`Could not log out: ${words(r)}`, 'error');
    return;
  }
  forgetChat();
  reloadToSignin(everywhere ? 'You have logged out on every device.' : 'You have logged out.');
}

function openPasswordDialog() {
  dom.passwordForm.reset();
  clearPasswordErrors();
  dom.passwordDialog.showModal();
  dom.passwordOld.focus();
}

function clearPasswordErrors() {
  setFieldError(dom.passwordOld, dom.passwordOldError, '');
  setFieldError(dom.passwordNew, dom.passwordNewError, '');
  dom.passwordError.textContent = '';
}

let passwordBusy = false;

async function onPasswordSubmit(ev) {
  ev.preventDefault();
  if (passwordBusy) return;
  clearPasswordErrors();
  const old = dom.passwordOld.value;
  const neu = dom.passwordNew.value;
  if (!old) {
    setFieldError(dom.passwordOld, dom.passwordOldError, 'Enter your current password.');
    dom.passwordOld.focus();
    return;
  }
  if (utf8Bytes(neu) < PASSWORD_MIN_BYTES || utf8Bytes(neu) > PASSWORD_MAX_BYTES) {
    setFieldError(dom.passwordNew, dom.passwordNewError, 'Use at least 8 characters (and at most 1024 bytes).');
    dom.passwordNew.focus();
    return;
  }
  passwordBusy = true;
  dom.passwordSubmit.disabled = true;
  const r = await api('POST', '/api/password', { old, new: neu });
  passwordBusy = false;
  dom.passwordSubmit.disabled = false;
  if (r.error === 'bad_credentials') {
    setFieldError(dom.passwordOld, dom.passwordOldError, 'That is not your current password.');
    dom.passwordOld.focus();
  } else if (r.error === 'weak_password') {
    setFieldError(dom.passwordNew, dom.passwordNewError, words(r));
    dom.passwordNew.focus();
  } else if (r.error) {
    dom.passwordError.textContent = words(r);
  } else {
    dom.passwordDialog.close();
    notice('Your password was changed. Your other devices and tabs were signed out.');
  }
}

// renderAccount shows the menu that fits: a guest can change name or sign
// in; an account can change its password or log out.
export function renderAccount() {
  const acct = !!state.account;
  dom.meKind.textContent = acct ? '' : '(guest)';
  dom.renameButton.hidden = acct;
  dom.signinButton.hidden = acct;
  dom.passwordButton.hidden = !acct;
  dom.logoutButton.hidden = !acct;
  dom.logoutAllButton.hidden = !acct;
}

export function wireAccount() {
  dom.signinForm.addEventListener('submit', onSigninSubmit);
  dom.signinMode.addEventListener('click', () => {
    setMode(mode === 'login' ? 'register' : 'login');
    dom.signinUser.focus();
  });
  dom.guestButton.addEventListener('click', () => continueAsGuest());
  dom.nameBack.addEventListener('click', () => {
    stop();
    showSigninScreen({ note: '' });
  });
  dom.signinButton.addEventListener('click', () => reloadToSignin(''));
  dom.logoutButton.addEventListener('click', () => logOut(false));
  dom.logoutAllButton.addEventListener('click', () => logOut(true));
  dom.passwordButton.addEventListener('click', openPasswordDialog);
  dom.passwordCancel.addEventListener('click', () => dom.passwordDialog.close());
  dom.passwordForm.addEventListener('submit', onPasswordSubmit);
}
