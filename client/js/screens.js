// The page's screens (body[data-screen]): "connecting" until we know who we
// are, "signin" (sign in, create an account, or continue as a guest), "name"
// (a guest's name picker), "chat".

import { updateConnUi } from './banner.js';
import { dom } from './dom.js';
import { state } from './state.js';

export function showNameScreen({ prefill, error } = {}) {
  state.screen = 'name';
  dom.body.dataset.screen = 'name';
  dom.signinScreen.hidden = true;
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

export function showChatScreen() {
  state.screen = 'chat';
  dom.body.dataset.screen = 'chat';
  dom.signinScreen.hidden = true;
  dom.nameScreen.hidden = true;
  dom.app.hidden = false;
}

// note: a line above the form (why we are here: signed out, no guests).
export function showSigninScreen({ note } = {}) {
  state.screen = 'signin';
  dom.body.dataset.screen = 'signin';
  dom.nameScreen.hidden = true;
  dom.app.hidden = true;
  dom.signinScreen.hidden = false;
  if (note != null) dom.signinNote.textContent = note;
  dom.guestButton.disabled = state.guestsOff;
  dom.guestNote.textContent = state.guestsOff
    ? 'This server does not allow guests: sign in or create an account.'
    : 'No password: you get a name for this visit, and your private messages are not kept.';
  updateConnUi();
  (dom.signinUser.value ? dom.signinPass : dom.signinUser).focus();
}
