// Search: the header's search box, the results panel, and the jump from a
// result to its message in context. The server's snippet is plain text with
// the matched words as [start, end) ranges (UTF-16 units, as String.slice
// counts): the words are wrapped in <mark> here, the text goes in as text
// nodes, never as HTML.
//
// Where to look: with an account's private conversation open, that
// conversation (Search{with}); otherwise every room this connection is in.
//
// The jump keeps a conversation whole: rather than load a page around the
// message and leave a hole between it and what is shown (which scrolling
// and catch-up would then have to know about), it pages back from the
// oldest message held, JUMP_PAGE at a time, until the message is there,
// then scrolls to it and marks it (.search-hit). At most JUMP_MAX_PAGES
// pages: a message further back is reported, not loaded.

import { request, takeRef } from './connection.js';
import { button, dom, el } from './dom.js';
import { ensureDm } from './dms.js';
import { fmtFull, parseTime, shortTime } from './format.js';
import { afterPage, loadOlder } from './history.js';
import { notice } from './messagelist.js';
import { req } from './protocol.js';
import { renderDms } from './render.js';
import { convOf, currentConv, state } from './state.js';
import { lower } from './util.js';
import { setView } from './view.js';

const JUMP_PAGE = 200; // the server's most per History page
const JUMP_MAX_PAGES = 25;
const MAX_QUERY_BYTES = 256;

let searchRef = null; // the ref of the search whose results are shown next
let jump = null; // {conv, id, pages}
let lastHit = null;

// The conversation a search looks through, as request fields and as words.
function scope() {
  const v = state.view;
  if (v && v.kind === 'dm' && state.account) {
    const dm = state.dms.get(v.key);
    if (dm) return { fields: { with: dm.user }, words: `your conversation with ${dm.user}` };
  }
  return { fields: {}, words: 'your rooms' };
}

function setStatus(text) {
  dom.searchStatus.textContent = text;
}

export function openPanel() {
  dom.searchPanel.hidden = false;
  dom.searchForm.classList.add('open');
}

export function closeSearch() {
  dom.searchPanel.hidden = true;
  dom.searchForm.classList.remove('open');
  searchRef = null;
}

export function submitSearch(ev) {
  ev.preventDefault();
  const query = dom.searchInput.value.trim();
  if (!query) {
    closeSearch();
    return;
  }
  openPanel();
  dom.searchResults.replaceChildren();
  if (new TextEncoder().encode(query).length > MAX_QUERY_BYTES) {
    setStatus(`That search is too long: at most ${MAX_QUERY_BYTES} bytes.`);
    return;
  }
  const where = scope();
  searchRef = state.ready ? request(req.search(query, where.fields), { kind: 'search', query, where: where.words }) : null;
  setStatus(searchRef ? `Searching ${where.words}…` : 'Not connected: search again once the chat is back.');
}

// The parts of a snippet, its marked words as <mark>: ranges that are not
// whole numbers in order within the text are ignored, not trusted.
function snippetNode(text, highlights) {
  const out = el('span', 'search-snippet');
  let at = 0;
  for (const h of Array.isArray(highlights) ? highlights : []) {
    const [s, e] = Array.isArray(h) ? h : [];
    if (!Number.isInteger(s) || !Number.isInteger(e) || s < at || e <= s || e > text.length) continue;
    if (s > at) out.append(document.createTextNode(text.slice(at, s)));
    out.append(el('mark', null, text.slice(s, e)));
    at = e;
  }
  if (at < text.length) out.append(document.createTextNode(text.slice(at)));
  return out;
}

function resultItem(r) {
  const li = el('li', 'search-item');
  const b = button('search-result');
  b.dataset.id = r.id;
  if (typeof r.room === 'string' && r.room) b.dataset.room = r.room;
  else b.dataset.with = String(r.with ?? '');
  const head = el('span', 'search-head');
  const where = r.room ? `#${r.room}` : `@${r.with}`;
  const when = parseTime(r.timestamp);
  const time = el('time', 'search-time', shortTime(when));
  time.dateTime = when.toISOString();
  time.title = fmtFull.format(when);
  head.append(el('span', 'search-where', where), el('span', 'search-author', String(r.username ?? '')), time);
  b.append(head, snippetNode(String(r.snippet ?? ''), r.highlights));
  li.append(b);
  return li;
}

export function onSearchResults(f) {
  const meta = takeRef(f.ref);
  if (!meta || meta.kind !== 'search' || f.ref !== searchRef) return; // an older search's, or closed
  const results = (Array.isArray(f.results) ? f.results : []).filter((r) => r && typeof r.id === 'string');
  dom.searchResults.replaceChildren(...results.map(resultItem));
  if (!results.length) setStatus(`Nothing in ${meta.where} matches “${meta.query}”.`);
  else setStatus(`${results.length}${f.truncated ? '+' : ''} in ${meta.where}, best first. Pick one to see it in context.`);
}

// The Error reply to a Search: shown if it answers the search on show.
export function onSearchError(meta, f) {
  if (f.ref === searchRef) setStatus(`Could not search: ${f.message || f.code || 'error'}`);
}

// A click on a result: switch to its conversation and bring it into view.
export function onResultClick(ev) {
  const b = ev.target.closest('button.search-result');
  if (!b) return;
  let view;
  if (b.dataset.room) {
    const room = state.rooms.get(b.dataset.room);
    if (!room || !room.joined) {
      setStatus(`You have left #${b.dataset.room} since.`);
      return;
    }
    view = { kind: 'room', key: b.dataset.room };
  } else {
    const dm = ensureDm(b.dataset.with);
    renderDms();
    view = { kind: 'dm', key: lower(dm.user) };
  }
  closeSearch();
  setView(view);
  jump = { conv: convOf(view), id: b.dataset.id, pages: 0 };
  continueJump(jump.conv);
}

function reveal(conv, node) {
  if (lastHit) lastHit.classList.remove('search-hit');
  lastHit = node;
  conv.stick = false;
  node.classList.add('search-hit');
  node.scrollIntoView({ block: 'center' });
  node.tabIndex = -1;
  node.focus({ preventScroll: true });
}

// Runs after every History page placed (history.js's afterPage): the jump
// goes on until its message is held.
function continueJump(conv) {
  if (!jump || conv !== jump.conv) return;
  if (conv !== currentConv()) {
    jump = null; // the reader went elsewhere
    return;
  }
  const node = conv.byId.get(jump.id);
  if (node) {
    jump = null;
    reveal(conv, node);
    return;
  }
  if (conv.loadingFirst || conv.loadingOlder) return; // a page is on its way
  const passed = conv.order.length > 0 && conv.order[0] < jump.id;
  if (passed || (conv.historyLoaded && !conv.hasOlder) || jump.pages >= JUMP_MAX_PAGES) {
    notice(passed || !conv.hasOlder ? 'That message is no longer there.' : 'That message is too far back to load here.', 'info', conv);
    jump = null;
    return;
  }
  jump.pages++;
  if (!loadOlder(conv, JUMP_PAGE)) jump = null;
}

afterPage.push(continueJump);
