// How a message's text and time are shown: times in the reader's locale,
// and links made only from http(s) URLs that parse. Everything else in user
// text stays text.

import { el } from './dom.js';

// ---- time

export const fmtTime = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const fmtDayTime = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
export const fmtDay = new Intl.DateTimeFormat(undefined, { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' });
export const fmtFull = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });

export function parseTime(ts) {
  const d = ts ? new Date(ts) : new Date();
  return Number.isNaN(d.getTime()) ? new Date() : d;
}

export function shortTime(d) {
  const now = new Date();
  const today = d.getFullYear() === now.getFullYear() && d.getMonth() === now.getMonth() && d.getDate() === now.getDate();
  return today ? fmtTime.format(d) : fmtDayTime.format(d);
}

// ---- links: split the text, make <a> only for http(s) URLs that parse

const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;

export function trimUrl(s) {
  const count = (str, c) => str.split(c).length - 1;
  for (;;) {
    const c = s[s.length - 1];
    if ('.,;:!?*'.includes(c)) s = s.slice(0, -1);
    else if (c === ')' && count(s, '(') < count(s, ')')) s = s.slice(0, -1);
    else if (c === ']' && count(s, '[') < count(s, ']')) s = s.slice(0, -1);
    else return s;
  }
}

function safeHref(raw) {
  try {
    const u = new URL(raw);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch {
    return null;
  }
}

// linkHref: the href for a link the Markdown subset makes (markdown.js):
// an http(s) URL, or a mailto: one with an address. null for anything else.
export function linkHref(raw) {
  if (!/^mailto:/i.test(raw)) return safeHref(raw);
  try {
    const u = new URL(raw);
    return u.protocol === 'mailto:' && /^[^@\s]+@[^@\s]+$/.test(decodeURIComponent(u.pathname)) ? u.href : null;
  } catch {
    return null;
  }
}

export function renderText(target, text) {
  let last = 0;
  for (const m of text.matchAll(URL_RE)) {
    const raw = trimUrl(m[0]);
    const href = safeHref(raw);
    if (!href || m.index < last) continue;
    if (m.index > last) target.append(document.createTextNode(text.slice(last, m.index)));
    const a = el('a', 'msg-link', raw);
    a.href = href;
    a.rel = 'noopener noreferrer';
    a.target = '_blank';
    target.append(a);
    last = m.index + raw.length;
  }
  if (last < text.length) target.append(document.createTextNode(text.slice(last)));
}
