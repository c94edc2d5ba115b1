// Editing and deleting one's own messages, in rooms and private
// conversations: the inline editor (Enter saves, Shift+Enter a new line, Esc
// cancels), the inline "Delete?" confirm, the requests, and the server's
// MessageEdited / MessageDeleted ({room} or {with}) applied to the message
// wherever it is shown. How an edited or deleted message looks is
// messagelist.js's (setMessageState).

import { MAX_CONTENT } from './config.js';
import { request } from './connection.js';
import { button, el } from './dom.js';
import {
  mutate, notice, requireReady, setMessageState, sourceOf,
} from './messagelist.js';
import { req } from './protocol.js';
import { renderDms } from './render.js';
import { state } from './state.js';
import { codePoints, lower } from './util.js';

// Where a message element is: its conversation, the request's target and
// the meta that finds the conversation again. A private message is named
// by its id alone, without `with`: the other side may have been renamed
// since (a guest), and the server knows the conversation by the names
// the message was sent under.
function whereOf(node) {
  for (const [name, room] of state.rooms) {
    if (room.conv && room.conv.el.contains(node)) return { conv: room.conv, target: { room: name }, meta: { room: name } };
  }
  for (const [key, dm] of state.dms) {
    if (dm.conv.el.contains(node)) return { conv: dm.conv, target: {}, meta: { dm: key } };
  }
  return null;
}

// The conversation a change's frame or meta names.
function convOf({ room, dm }) {
  if (typeof room === 'string') return state.rooms.get(room)?.conv ?? null;
  return typeof dm === 'string' ? state.dms.get(dm)?.conv ?? null : null;
}

function cancel(node) {
  for (const x of node.querySelectorAll(':scope > .msg-editor, :scope > .msg-confirm')) x.remove();
  node.querySelector(':scope > .msg-body').hidden = false;
  node.classList.remove('editing');
}

// Opens the inline editor on one's own message.
export function startEdit(node) {
  const where = whereOf(node);
  if (!where || !node.dataset.id || node.classList.contains('deleted')) return;
  cancel(node);
  const body = node.querySelector(':scope > .msg-body');
  const editor = el('div', 'msg-editor');
  const area = el('textarea', 'msg-edit-input');
  area.value = sourceOf(node) ?? body.textContent; // as written, not as shown
  area.rows = Math.min(8, area.value.split('\n').length + 1);
  area.setAttribute('aria-label', 'Edit message');
  const save = button('link-button', 'Save');
  save.dataset.action = 'edit-save';
  const dismiss = button('link-button', 'Cancel');
  dismiss.dataset.action = 'edit-cancel';
  const hint = el('span', 'msg-edit-hint', 'Enter to save, Esc to cancel');
  editor.append(area, save, dismiss, hint);
  area.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') {
      ev.preventDefault();
      ev.stopPropagation();
      cancelEdit(node);
    } else if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      saveEdit(node);
    }
  });
  mutate(where.conv, () => {
    body.hidden = true;
    node.classList.add('editing');
    body.after(editor);
  });
  area.focus();
  area.setSelectionRange(area.value.length, area.value.length);
}

export function cancelEdit(node) {
  cancel(node);
  const b = node.querySelector('button[data-action="edit"]');
  if (b) b.focus();
}

export function saveEdit(node) {
  const where = whereOf(node);
  const area = node.querySelector(':scope > .msg-editor > textarea');
  if (!where || !area) return;
  const content = area.value;
  if (!content.trim()) {
    notice('A message cannot be empty: delete it instead.', 'error', where.conv);
    return;
  }
  if (codePoints(content) > MAX_CONTENT) {
    notice(`That message is ${codePoints(content)} characters long; the limit is ${MAX_CONTENT}.`, 'error', where.conv);
    return;
  }
  if (!requireReady()) return;
  if (request(req.editMessage(where.target, node.dataset.id, content), { kind: 'edit', ...where.meta, id: node.dataset.id })) {
    area.disabled = true; // until MessageEdited (or the error) comes back
  }
}

// Asks, in place, whether to delete the message.
export function askDelete(node) {
  const where = whereOf(node);
  if (!where || !node.dataset.id || node.classList.contains('deleted')) return;
  cancel(node);
  const box = el('div', 'msg-confirm');
  box.setAttribute('role', 'group');
  box.setAttribute('aria-label', 'Delete this message?');
  const yes = button('link-button danger', 'Delete');
  yes.dataset.action = 'delete-yes';
  const no = button('link-button', 'Cancel');
  no.dataset.action = 'delete-no';
  box.append(el('span', 'msg-confirm-text', 'Delete this message for everyone?'), yes, no);
  mutate(where.conv, () => node.querySelector(':scope > .msg-body').after(box));
  no.focus();
}

export function confirmDelete(node) {
  const where = whereOf(node);
  if (!where || !requireReady()) return;
  request(req.deleteMessage(where.target, node.dataset.id), { kind: 'delete', ...where.meta, id: node.dataset.id });
}

export function onChangeError(meta, f) {
  const conv = convOf(meta);
  const node = conv ? conv.byId.get(meta.id) : null;
  const area = node ? node.querySelector(':scope > .msg-editor > textarea') : null;
  if (area) area.disabled = false;
  const what = meta.kind === 'edit' ? 'edit' : 'delete';
  const why = f.code === 'not_allowed' ? 'you can only change messages you sent under your current name on this connection' : f.message || f.code;
  notice(`Could not ${what} that message: ${why}`, 'error', conv || undefined);
}

// The private conversation a change's frame names ({with}: the other
// side, by the name the message was sent to or from), or the one holding
// the message if that person has been renamed since.
function dmOf(f) {
  const named = state.dms.get(lower(f.with));
  if (named && named.conv.byId.has(f.id)) return named;
  for (const dm of state.dms.values()) if (dm.conv.byId.has(f.id)) return dm;
  return named ?? null;
}

// MessageEdited / MessageDeleted: {room} for a room's message, {with} (the
// other side) for a private one's.
function changed(f, change) {
  const dm = typeof f.with === 'string' ? dmOf(f) : null;
  const conv = dm ? dm.conv : convOf({ room: f.room });
  if (dm && dm.last && dm.last.id === f.id) { // the list shows the last message
    dm.last.content = change.deleted ? 'message deleted' : String(change.content ?? '');
    renderDms();
  }
  const node = conv ? conv.byId.get(f.id) : null;
  if (!node) return; // not shown: History will show it as it is now
  mutate(conv, () => {
    node.classList.remove('editing');
    setMessageState(node, change);
  });
}

export function onMessageEdited(f) {
  changed(f, { content: f.content, editedAt: f.edited_at || new Date().toISOString() });
}

export function onMessageDeleted(f) {
  changed(f, { deleted: true });
}
