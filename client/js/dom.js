// The page's elements (index.html; the hooks are listed in app.js) and the
// only ways this client makes new ones. User text goes in through
// textContent and text nodes only, never through HTML parsing.

import { lower } from './util.js';

const $ = (id) => document.getElementById(id);

export const dom = {
  body: document.body,
  banner: $('conn-banner'),
  bannerText: $('conn-banner-text'),
  bannerCountdown: $('conn-banner-countdown'),
  bannerRetry: $('conn-retry'),
  offlineScreen: $('offline-screen'),
  signinScreen: $('signin-screen'),
  signinForm: $('signin-form'),
  signinTitle: $('signin-title'),
  signinNote: $('signin-note'),
  signinUser: $('signin-user'),
  signinUserError: $('signin-user-error'),
  signinPass: $('signin-pass'),
  signinPassHint: $('signin-pass-hint'),
  signinPassError: $('signin-pass-error'),
  signinSubmit: $('signin-submit'),
  signinError: $('signin-error'),
  signinStatus: $('signin-status'),
  signinSwitchText: $('signin-switch-text'),
  signinMode: $('signin-mode'),
  guestButton: $('guest-button'),
  guestNote: $('guest-note'),
  nameBack: $('name-back'),
  nameScreen: $('name-screen'),
  nameForm: $('name-form'),
  nameInput: $('name-input'),
  nameSubmit: $('name-submit'),
  nameError: $('name-error'),
  nameStatus: $('name-status'),
  app: $('app'),
  sidebar: $('sidebar'),
  chat: $('chat'),
  sidebarToggle: $('sidebar-toggle'),
  memberPanel: $('member-panel'),
  membersToggle: $('members-toggle'),
  membersToggleCount: $('members-toggle-count'),
  backdrop: $('drawer-backdrop'),
  meName: $('me-name'),
  meKind: $('me-kind'),
  renameButton: $('rename-button'),
  signinButton: $('signin-button'),
  passwordButton: $('password-button'),
  logoutButton: $('logout-button'),
  logoutAllButton: $('logout-all-button'),
  passwordDialog: $('password-dialog'),
  passwordForm: $('password-form'),
  passwordOld: $('password-old'),
  passwordOldError: $('password-old-error'),
  passwordNew: $('password-new'),
  passwordNewError: $('password-new-error'),
  passwordError: $('password-error'),
  passwordCancel: $('password-cancel'),
  passwordSubmit: $('password-submit'),
  roomList: $('room-list'),
  roomListMore: $('room-list-more'),
  newRoomForm: $('new-room-form'),
  newRoomInput: $('new-room-input'),
  newRoomError: $('new-room-error'),
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
  notifySetting: $('notify-setting'),
  notifyToggle: $('notify-toggle'),
  notifyStatus: $('notify-status'),
  searchForm: $('search-form'),
  searchInput: $('search-input'),
  searchPanel: $('search-panel'),
  searchStatus: $('search-status'),
  searchResults: $('search-results'),
  searchClose: $('search-close'),
};

export function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text != null) node.textContent = text;
  return node;
}

export function button(cls, text, label) {
  const b = el('button', cls, text);
  b.type = 'button';
  if (label) b.setAttribute('aria-label', label);
  return b;
}

function hue(name) {
  let h = 0;
  for (const ch of lower(name)) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return h % 12;
}

export function avatar(name, extra) {
  const a = el('span', `avatar hue-${hue(name)}${extra ? ' ' + extra : ''}`, (Array.from(name)[0] || '?').toUpperCase());
  a.setAttribute('aria-hidden', 'true');
  return a;
}
