// The page's screens (body[data-screen]): "connecting" until the server
// greets us, "name" (the name picker), "chat". A sign-in screen for
// accounts would be added here.

import { updateConnUi } from './banner.js';
import { dom } from './dom.js';
import { state } from './state.js';

export function showNameScreen({ prefill, error } = {}) {
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

export function showChatScreen() {
  state.screen = 'chat';
  dom.body.dataset.screen = 'chat';
  dom.nameScreen.hidden = true;
  dom.app.hidden = false;
}
