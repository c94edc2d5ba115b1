// Private conversations: opened from /pm or the member list, or by a
// message from someone. A guest's live in this page only (the server keeps
// none for it) and follow a person's rename. An account's are the server's:
// the list comes from Conversations, each one's messages from History{with}
// (history.js), its unread count from the read markers (unread.js).

import { NAME_RE } from './config.js';
import { request, takeRef } from './connection.js';
import { mutate, newConv, notice, renderEdge } from './messagelist.js';
import { dropPending, placeMessage } from './messages.js';
import { notifyPrivateMessage } from './notify.js';
import { req } from './protocol.js';
import {
  renderDms, renderHeader, renderMembers, updateComposer, updateTitle,
} from './render.js';
import { fallbackView, state } from './state.js';
import { setConversationCount } from './unread.js';
import { lower, sameName } from './util.js';
import { setView } from './view.js';

export function ensureDm(user) {
  const key = lower(user);
  let dm = state.dms.get(key);
  if (!dm) {
    dm = { user, conv: newConv('dm', key), last: null };
    state.dms.set(key, dm);
    renderEdge(dm.conv); // now that the conversation knows its person
  }
  return dm;
}

// noteLast keeps m ({id, from, content, deleted?}) as dm's newest message if it is.
export function noteLast(dm, m) {
  if (!dm || !m || typeof m.id !== 'string') return;
  const content = m.deleted === true ? 'message deleted' : String(m.content ?? '');
  if (!dm.last || m.id > dm.last.id) dm.last = { id: m.id, from: String(m.from ?? ''), content };
}

export function openDm(user) {
  const name = String(user || '').trim().replace(/^@/, '');
  if (!NAME_RE.test(name)) {
    notice(`“${name}” is not a valid user name.`, 'error');
    return false;
  }
  if (sameName(name, state.username)) {
    notice('That is you. Pick someone else to talk to.', 'error');
    return false;
  }
  const dm = ensureDm(name);
  setView({ kind: 'dm', key: lower(dm.user) });
  renderDms();
  return true;
}

export function closeDm(key) {
  const dm = state.dms.get(key);
  if (!dm) return;
  dropPending(dm.conv);
  state.dms.delete(key);
  if (state.view && state.view.kind === 'dm' && state.view.key === key) setView(fallbackView());
  renderDms();
}

export function onPrivateMessage(f) {
  const mine = sameName(f.from, state.username);
  const other = mine ? f.to : f.from;
  if (typeof other !== 'string' || !other) return;
  const dm = ensureDm(other);
  mutate(dm.conv, () => placeMessage(dm.conv, { id: f.id, user: f.from, content: f.content, ts: f.timestamp, nonce: f.nonce }, { unread: true }));
  noteLast(dm, f);
  renderDms();
  notifyPrivateMessage(f);
}

// An account's conversations, asked for once its connection is ready.
export function requestConversations() {
  if (state.account) request(req.conversations(), { kind: 'conversations' });
}

// Conversations{conversations: [{with, last, read, unread}]}: the list, newest first.
export function onConversations(f) {
  takeRef(f.ref);
  if (!state.account) return;
  for (const c of Array.isArray(f.conversations) ? f.conversations : []) {
    if (!c || typeof c.with !== 'string' || !NAME_RE.test(c.with) || sameName(c.with, state.username)) continue;
    const dm = ensureDm(c.with);
    if (dm.user !== c.with) {
      dm.user = c.with; // an account's name as registered, however it was typed
      renderEdge(dm.conv);
      renderHeader();
      updateComposer();
    }
    if (c.last && typeof c.last === 'object') noteLast(dm, c.last);
    setConversationCount(dm.conv, c.read, c.unread);
  }
  renderDms();
  updateTitle();
}

// A rename moves an open private conversation along with the person.
export function renameDm(from, to) {
  const dm = state.dms.get(lower(from));
  if (!dm || sameName(from, state.username) || state.dms.has(lower(to))) return;
  state.dms.delete(lower(from));
  dm.user = to;
  dm.conv.key = lower(to);
  state.dms.set(lower(to), dm);
  for (const p of state.pending.values()) {
    if (p.conv === dm.conv) { p.target = lower(to); p.to = to; }
  }
  renderEdge(dm.conv);
  notice(`${from} is now known as ${to}.`, 'server', dm.conv);
  if (state.view && state.view.kind === 'dm' && state.view.key === lower(from)) state.view = { kind: 'dm', key: lower(to) };
  renderDms();
  renderHeader();
  renderMembers(); // the people of an open conversation
  updateComposer();
}
