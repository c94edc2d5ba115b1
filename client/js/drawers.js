// The side panels on narrow screens: the sidebar (rooms and private
// conversations) and the member list slide over the chat, one at a time.
// An open drawer is modal: what lies behind the backdrop is inert, Tab and
// Shift+Tab go round inside the drawer, and closing it gives the focus back
// to the button that opened it.

import { dom } from './dom.js';

const FOCUSABLE = 'button:not([disabled]), input:not([disabled]), textarea:not([disabled]), a[href], [tabindex]:not([tabindex="-1"])';

// The open drawer: {panel, toggle}, or null.
let open = null;

function drawer(which) {
  return which === 'sidebar'
    ? { cls: 'sidebar-open', panel: dom.sidebar, toggle: dom.sidebarToggle }
    : { cls: 'members-open', panel: dom.memberPanel, toggle: dom.membersToggle };
}

// What the keyboard can reach in the open drawer, in order.
function focusables(panel) {
  return [...panel.querySelectorAll(FOCUSABLE)].filter((e) => e.checkVisibility({ visibilityProperty: true }));
}

// Everything behind the backdrop: the page's other parts.
function behind(panel) {
  return [dom.sidebar, dom.chat, dom.memberPanel].filter((e) => e !== panel);
}

function openDrawer(which) {
  closeDrawers();
  const d = drawer(which);
  dom.app.classList.add(d.cls);
  d.toggle.setAttribute('aria-expanded', 'true');
  dom.backdrop.hidden = false;
  for (const e of behind(d.panel)) e.inert = true;
  open = d;
  const first = focusables(d.panel)[0];
  if (first) first.focus();
}

// Closes the open drawer. The focus, if it was in the drawer, goes to
// returnFocusTo, else to the button that opened the drawer.
export function closeDrawers(returnFocusTo) {
  const was = open;
  open = null;
  dom.app.classList.remove('sidebar-open', 'members-open');
  dom.sidebarToggle.setAttribute('aria-expanded', 'false');
  dom.membersToggle.setAttribute('aria-expanded', 'false');
  dom.backdrop.hidden = true;
  for (const e of [dom.sidebar, dom.chat, dom.memberPanel]) e.inert = false;
  if (!was) return;
  const active = document.activeElement;
  if (returnFocusTo) returnFocusTo.focus();
  else if (!active || active === document.body || was.panel.contains(active)) was.toggle.focus();
}

function toggleDrawer(which) {
  if (open && open.panel === drawer(which).panel) closeDrawers();
  else openDrawer(which);
}

// Tab and Shift+Tab go round inside the open drawer (a modal dialog opened
// from it, such as the password's, keeps the focus its own way).
function trapTab(ev) {
  if (!open || ev.key !== 'Tab' || document.querySelector('dialog[open]')) return;
  const items = focusables(open.panel);
  if (!items.length) {
    ev.preventDefault();
    return;
  }
  const first = items[0];
  const last = items[items.length - 1];
  const active = document.activeElement;
  if (!open.panel.contains(active)) {
    ev.preventDefault();
    (ev.shiftKey ? last : first).focus();
  } else if (ev.shiftKey && active === first) {
    ev.preventDefault();
    last.focus();
  } else if (!ev.shiftKey && active === last) {
    ev.preventDefault();
    first.focus();
  }
}

// Escape closes the open drawer; returns whether it did.
export function escapeDrawer() {
  if (!open) return false;
  closeDrawers(open.toggle);
  return true;
}

export function wireDrawers() {
  dom.sidebarToggle.addEventListener('click', () => toggleDrawer('sidebar'));
  dom.membersToggle.addEventListener('click', () => toggleDrawer('members'));
  dom.backdrop.addEventListener('click', () => closeDrawers());
  document.addEventListener('keydown', trapTab);
  // A drawer is a drawer only on a narrow screen: widening the window
  // closes it, so nothing stays inert.
  for (const q of ['(max-width: 1000px)', '(max-width: 720px)']) {
    window.matchMedia(q).addEventListener('change', () => { if (open) closeDrawers(); });
  }
}
