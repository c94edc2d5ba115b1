// "X is typing…": the Typing this page sends while its user types (at most
// every TYPING_EVERY_MS, not for commands), and the UserTyping the server
// relays, shown under the composer for the conversation in view until
// TYPING_SHOW_MS pass without another, or the typist's message arrives.
// Nothing here counts as unread.

import { notify } from './connection.js';
import { dom } from './dom.js';
import { state } from './state.js';
import { lower, sameName } from './util.js';

export const TYPING_EVERY_MS = 3000;
const TYPING_SHOW_MS = 6000;

let sentAt = 0;
let sentTo = '';
// Conversation key ("room:general", "dm:bob") -> Map(lower name -> {name, until}).
const typers = new Map();
let timer = null;

function keyOf(view) {
  return view ? `${view.kind}:${view.key}` : '';
}

// Called on each input in the composer.
export function noteTyping() {
  const view = state.view;
  const text = dom.input.value;
  if (!view || !state.ready || !text.trim() || text.startsWith('/')) return;
  const to = keyOf(view);
  const now = Date.now();
  if (to === sentTo && now - sentAt < TYPING_EVERY_MS) return;
  let frame = null;
  if (view.kind === 'room') frame = { type: 'Typing', room: view.key };
  else if (view.kind === 'dm') {
    const dm = state.dms.get(view.key);
    if (dm) frame = { type: 'Typing', with: dm.user };
  }
  if (frame && notify(frame)) {
    sentAt = now;
    sentTo = to;
  }
}

// UserTyping{room, username} or UserTyping{with, username}.
export function onUserTyping(f) {
  if (typeof f.username !== 'string' || sameName(f.username, state.username)) return;
  const key = typeof f.room === 'string' ? `room:${f.room}` : `dm:${lower(f.username)}`;
  let m = typers.get(key);
  if (!m) typers.set(key, (m = new Map()));
  m.set(lower(f.username), { name: f.username, until: Date.now() + TYPING_SHOW_MS });
  renderTyping();
}

// A message from name in the conversation: it is done typing.
export function typingDone(kind, key, name) {
  const m = typers.get(`${kind}:${key}`);
  if (m && m.delete(lower(name))) renderTyping();
}

// Who is typing where, as "room:general/alice": for window.parley.state().
export function typingNow() {
  const now = Date.now();
  const out = [];
  for (const [key, m] of typers) for (const t of m.values()) if (t.until > now) out.push(`${key}/${t.name}`);
  return out.sort();
}

function indicator() {
  let p = document.getElementById('typing-indicator');
  if (!p) {
    p = document.createElement('p');
    p.id = 'typing-indicator';
    p.className = 'typing-indicator';
    p.setAttribute('aria-live', 'polite');
    dom.composer.after(p);
  }
  return p;
}

// Shows who is typing in the conversation in view; runs again when the
// first of them expires, and when the view changes.
export function renderTyping() {
  clearTimeout(timer);
  timer = null;
  const now = Date.now();
  let next = Infinity;
  for (const [key, m] of typers) {
    for (const [k, t] of m) {
      if (t.until <= now) m.delete(k); else next = Math.min(next, t.until);
    }
    if (!m.size) typers.delete(key);
  }
  const names = [...(typers.get(keyOf(state.view))?.values() || [])].map((t) => t.name).sort();
  let text = '';
  if (names.length === 1) text = `${names[0]} is typing…`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) text = 'Several people are typing…';
  const p = indicator();
  if (p.textContent !== text) p.textContent = text;
  p.hidden = !text;
  if (next !== Infinity) timer = setTimeout(renderTyping, next - now + 50);
}
