// Private conversations: opened from /pm or the member list, or by a
// message from someone; they live in this page only (the server keeps no
// private history for the client to fetch) and follow a person's rename.

import { NAME_RE } from './config.js';
import { mutate, newConv, notice, renderEdge } from './messagelist.js';
import { dropPending, placeMessage } from './messages.js';
import { renderDms, renderHeader, updateComposer } from './render.js';
import { fallbackView, state } from './state.js';
import { lower, sameName } from './util.js';
import { setView } from './view.js';

function ensureDm(user) {
  const key = lower(user);
  let dm = state.dms.get(key);
  if (!dm) {
    dm = { user, conv: newConv('dm', key) };
    state.dms.set(key, dm);
    renderEdge(dm.conv); // now that the conversation knows its person
  }
  return dm;
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
  renderDms();
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
  updateComposer();
}
