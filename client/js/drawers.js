// The side panels on narrow screens: the sidebar (rooms and private
// conversations) and the member list slide over the chat, one at a time.

import { dom } from './dom.js';

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

export function closeDrawers(returnFocusTo) {
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

export function wireDrawers() {
  dom.sidebarToggle.addEventListener('click', () => toggleDrawer('sidebar'));
  dom.membersToggle.addEventListener('click', () => toggleDrawer('members'));
  dom.backdrop.addEventListener('click', () => closeDrawers());
}
