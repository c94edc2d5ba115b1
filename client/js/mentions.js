// Mentions: the server recognises @name and lists the names a message
// mentions (Message.mentions). Here, the @names of a rendered message body
// are marked (span.mention, .mention-me for mine) by walking the text that
// format.js rendered, without touching its rules; a message that mentions
// me gets .mentions-me; and a conversation counts the mentions of me it
// has unread (conv.mentions: the server's for an account, this page's for
// a guest), shown as a badge on its room.

import { el } from './dom.js';
import { state } from './state.js';
import { lower, sameName } from './util.js';

export function mentionsMe(mentions) {
  return Array.isArray(mentions) && mentions.some((n) => typeof n === 'string' && sameName(n, state.username));
}

// The names each message element mentions, for a body rendered again (an edit).
const known = new WeakMap();

// Marks, in the rendered body, the @names the server recognised (mentions
// undefined: the ones the element was built with).
export function markMentions(node, mentions) {
  if (mentions === undefined) mentions = known.get(node);
  else if (Array.isArray(mentions)) known.set(node, mentions);
  node.classList.toggle('mentions-me', mentionsMe(mentions));
  if (!Array.isArray(mentions) || !mentions.length) return;
  const body = node.querySelector(':scope > .msg-body');
  if (!body) return;
  const names = new Set(mentions.filter((n) => typeof n === 'string').map(lower));
  const walker = document.createTreeWalker(body, NodeFilter.SHOW_TEXT);
  const texts = [];
  for (let t = walker.nextNode(); t; t = walker.nextNode()) {
    if (!t.parentElement.closest('a, code, pre, .mention')) texts.push(t);
  }
  const re = /(^|[^A-Za-z0-9_@-])@([A-Za-z0-9_-]+)/g;
  for (const t of texts) {
    const s = t.data;
    let last = 0;
    const parts = [];
    for (let m = re.exec(s); m; m = re.exec(s)) {
      let name = m[2];
      while (name.length > 1 && /[-_]$/.test(name) && !names.has(lower(name))) name = name.slice(0, -1);
      if (!names.has(lower(name))) continue;
      const start = m.index + m[1].length;
      parts.push(document.createTextNode(s.slice(last, start)));
      const span = el('span', 'mention', `@${name}`);
      if (sameName(name, state.username)) span.classList.add('mention-me');
      parts.push(span);
      last = start + 1 + name.length;
      re.lastIndex = last;
    }
    if (!parts.length) continue;
    parts.push(document.createTextNode(s.slice(last)));
    t.replaceWith(...parts);
  }
}

// The mention badge of a room's item in the list (next to the unread one).
export function setMentionBadge(host, count) {
  let badge = host.querySelector('.mention-badge');
  if (!count) {
    if (badge) badge.remove();
    return;
  }
  if (!badge) {
    badge = el('span', 'mention-badge');
    badge.setAttribute('aria-hidden', 'true'); // the button's label says it
    const unread = host.querySelector('.unread-badge');
    host.insertBefore(badge, unread || host.querySelector('.room-count'));
  }
  badge.textContent = `@${count > 9 ? '9+' : count}`;
}
