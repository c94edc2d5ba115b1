// Reactions to room messages: the small picker a message's React button
// opens (the quick set), the chips under a message (emoji and count,
// pressed when one of them is mine; a click toggles mine), and the
// server's Reactions frames applied to the message wherever it is shown.
// Which reactions are mine comes from the server: History entries and a
// catch-up's Reactions carry "reacted"; a live Reactions frame carries the
// change (by, emoji, on), and by is my name only when I made it.

import { request } from './connection.js';
import { button, el } from './dom.js';
import { mutate, notice, requireReady } from './messagelist.js';
import { state } from './state.js';
import { sameName } from './util.js';

export const QUICK_REACTIONS = ['👍', '❤️', '😂', '🎉', '😮', '😢', '👀', '✅'];

// The emoji of each message element that are mine.
const mine = new WeakMap();

function roomOf(node) {
  for (const [name, room] of state.rooms) if (room.conv && room.conv.el.contains(node)) return { name, conv: room.conv };
  return null;
}

// The React button that buildMessage puts in a room message's actions.
export function reactButton() {
  const b = button('msg-action', '☺+', 'React to this message');
  b.dataset.action = 'react';
  b.title = 'React';
  return b;
}

// Shows counts ({emoji: n}, in the server's order) under node; reacted,
// when given, says which are mine (History, catch-up).
export function setReactions(node, counts, reacted) {
  if (Array.isArray(reacted)) mine.set(node, new Set(reacted));
  const own = mine.get(node) || new Set();
  let row = node.querySelector(':scope > .msg-reactions');
  const entries = counts && typeof counts === 'object' ? Object.entries(counts).filter(([, n]) => Number(n) > 0) : [];
  if (!entries.length) {
    if (row) row.remove();
    return;
  }
  if (!row) {
    row = el('div', 'msg-reactions');
    row.setAttribute('role', 'group');
    row.setAttribute('aria-label', 'Reactions');
    const after = node.querySelector(':scope > .msg-edited') || node.querySelector(':scope > .msg-body');
    after.after(row);
  }
  row.replaceChildren();
  for (const [emoji, n] of entries) {
    const chip = button('reaction-chip');
    chip.dataset.action = 'reaction';
    chip.dataset.emoji = emoji;
    const pressed = own.has(emoji);
    chip.setAttribute('aria-pressed', String(pressed));
    chip.setAttribute('aria-label', `${emoji} ${n}${pressed ? ', including you' : ''}: click to ${pressed ? 'take yours back' : 'add yours'}`);
    chip.append(el('span', 'reaction-emoji', emoji), el('span', 'reaction-count', String(n)));
    row.append(chip);
  }
}

function send(node, emoji, on) {
  const where = roomOf(node);
  if (!where || !node.dataset.id || node.classList.contains('deleted') || !requireReady()) return;
  request({ type: 'React', room: where.name, id: node.dataset.id, emoji, on }, { kind: 'react', room: where.name, id: node.dataset.id });
}

// A click on a chip: mine goes on or off.
export function toggleReaction(node, emoji) {
  send(node, emoji, !(mine.get(node) || new Set()).has(emoji));
}

// Opens the picker under the message, or closes it.
export function toggleReactPicker(node) {
  const open = node.querySelector(':scope > .react-picker');
  const where = roomOf(node);
  if (!where) return;
  if (open) {
    mutate(where.conv, () => open.remove());
    return;
  }
  const picker = el('div', 'react-picker');
  picker.setAttribute('role', 'group');
  picker.setAttribute('aria-label', 'Pick a reaction');
  for (const emoji of QUICK_REACTIONS) {
    const b = button('react-pick', emoji, `React with ${emoji}`);
    b.dataset.action = 'react-pick';
    b.dataset.emoji = emoji;
    picker.append(b);
  }
  picker.addEventListener('keydown', (ev) => {
    if (ev.key !== 'Escape') return;
    ev.preventDefault();
    ev.stopPropagation();
    closePicker(node);
  });
  const after = node.querySelector(':scope > .msg-reactions') || node.querySelector(':scope > .msg-edited') || node.querySelector(':scope > .msg-body');
  mutate(where.conv, () => after.after(picker));
  picker.firstElementChild.focus();
}

function closePicker(node) {
  const picker = node.querySelector(':scope > .react-picker');
  if (picker) picker.remove();
  const b = node.querySelector('button[data-action="react"]');
  if (b) b.focus();
}

// A pick: mine goes on (a second pick of the same emoji takes it back).
export function pickReaction(node, emoji) {
  closePicker(node);
  toggleReaction(node, emoji);
}

// Reactions{room, id, counts, by?, emoji?, on?, reacted?}.
export function onReactions(f) {
  const room = state.rooms.get(f.room);
  const node = room && room.conv ? room.conv.byId.get(f.id) : null;
  if (!node) return; // not shown: History will show them as they are now
  let reacted;
  if (Array.isArray(f.reacted) || (!f.by && f.counts)) {
    reacted = Array.isArray(f.reacted) ? f.reacted : [];
  } else if (typeof f.by === 'string' && sameName(f.by, state.username) && typeof f.emoji === 'string') {
    const own = new Set(mine.get(node) || []);
    if (f.on) own.add(f.emoji); else own.delete(f.emoji);
    reacted = [...own];
  }
  mutate(room.conv, () => setReactions(node, f.counts, reacted));
}

export function onReactError(meta, f) {
  const room = state.rooms.get(meta.room);
  const why = f.code === 'too_many_reactions' ? 'this message has as many different reactions as it can hold' : f.message || f.code;
  notice(`Could not react: ${why}`, 'error', room ? room.conv : undefined);
}
