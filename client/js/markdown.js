// A message's text as a small Markdown subset, built as DOM nodes: `code`,
// ``` fenced blocks ```, **bold**, *italic*, ~~strike~~, "> " quotes, and
// links made only from http(s) and mailto URLs (format.js). User text only
// ever becomes text nodes and textContent, never HTML. Every step is one
// pass over the text (backtick runs are paired through a precomputed
// "next run of the same length"; emphasis through a stack whose depth is
// capped), so a hostile message costs time in proportion to its length.

import { el } from './dom.js';
import { linkHref, trimUrl } from './format.js';

// Emphasis nested deeper than this stays text: it bounds how often an
// unclosed marker's content is moved when the stack unwinds.
const MAX_DEPTH = 16;
const FENCE_RE = /^ {0,3}```/;
const FENCE_END_RE = /^ {0,3}```\s*$/;
const QUOTE_RE = /^ {0,3}> ?/;
const TEXT_RE = /\b(?:https?:\/\/|mailto:)[^\s<>"'`]+|\*+|~+/gi;
const SPACE_RE = /\s/;
const TAGS = { '*': 'em', '**': 'strong', '~~': 'del' };

// renderMarkdown appends text's nodes to target (a .msg-body, white-space: pre-wrap).
export function renderMarkdown(target, text) {
  const lines = String(text).split('\n');
  let para = [];
  const flush = () => {
    if (!para.length) return;
    renderInline(target, para.join('\n'));
    para = [];
  };
  for (let i = 0; i < lines.length;) {
    const line = lines[i];
    if (FENCE_RE.test(line)) {
      flush();
      let j = i + 1;
      while (j < lines.length && !FENCE_END_RE.test(lines[j])) j++;
      // An unclosed fence runs to the end of the message.
      const pre = el('pre', 'md-pre');
      pre.tabIndex = 0; // scrollable: reachable by the keyboard
      pre.append(el('code', 'md-code-block', lines.slice(i + 1, j).join('\n')));
      target.append(pre);
      i = j + 1;
    } else if (QUOTE_RE.test(line)) {
      flush();
      const quoted = [];
      while (i < lines.length && QUOTE_RE.test(lines[i]) && !FENCE_RE.test(lines[i])) {
        quoted.push(lines[i].replace(QUOTE_RE, ''));
        i++;
      }
      const q = el('blockquote', 'md-quote');
      renderInline(q, quoted.join('\n'));
      target.append(q);
    } else {
      para.push(line);
      i++;
    }
  }
  flush();
}

// ---- inline: lex into tokens, pair the emphasis markers, build the nodes

function renderInline(target, s) {
  appendNodes(target, nest(lex(s)));
}

// Tokens: {t: 'text', v} | {t: 'code', v} | {t: 'link', v, href} |
// {t: 'delim', v: '*'|'**'|'~~', open, close}.
function lex(s) {
  const out = [];
  // Backtick runs; a run opens a code span closed by the next run of the same length.
  const runs = [];
  for (const m of s.matchAll(/`+/g)) runs.push({ start: m.index, end: m.index + m[0].length, len: m[0].length });
  const next = new Array(runs.length).fill(-1);
  const seen = new Map();
  for (let i = runs.length - 1; i >= 0; i--) {
    next[i] = seen.has(runs[i].len) ? seen.get(runs[i].len) : -1;
    seen.set(runs[i].len, i);
  }
  let pos = 0;
  for (let i = 0; i < runs.length; i++) {
    const r = runs[i];
    const j = next[i];
    if (r.start < pos || j < 0) continue;
    lexText(s, pos, r.start, out);
    let code = s.slice(r.end, runs[j].start);
    if (code.length > 2 && code[0] === ' ' && code[code.length - 1] === ' ') code = code.slice(1, -1);
    out.push({ t: 'code', v: code });
    pos = runs[j].end;
  }
  lexText(s, pos, s.length, out);
  return out;
}

function lexText(s, from, to, out) {
  const part = s.slice(from, to);
  const re = new RegExp(TEXT_RE.source, 'gi');
  let last = 0;
  for (let m = re.exec(part); m; m = re.exec(part)) {
    const tok = m[0];
    const at = m.index;
    let push = null;
    let end = at + tok.length;
    if (tok[0] === '*' || tok[0] === '~') {
      const before = at + from > 0 ? s[at + from - 1] : undefined;
      const after = s[end + from];
      const open = after !== undefined && !SPACE_RE.test(after);
      const close = before !== undefined && !SPACE_RE.test(before);
      if (tok === '~~') push = [{ t: 'delim', v: '~~', open, close }];
      else if (tok === '*' || tok === '**') push = [{ t: 'delim', v: tok, open, close }];
      else if (tok === '***') {
        // Opening: bold then italic; closing: italic then bold.
        push = open && !close
          ? [{ t: 'delim', v: '**', open, close }, { t: 'delim', v: '*', open, close }]
          : [{ t: 'delim', v: '*', open, close }, { t: 'delim', v: '**', open, close }];
      }
    } else {
      const raw = trimUrl(tok);
      const href = linkHref(raw);
      if (href) {
        push = [{ t: 'link', v: raw, href }];
        end = at + raw.length;
        re.lastIndex = end;
      }
    }
    if (!push) continue; // stays text
    if (at > last) out.push({ t: 'text', v: part.slice(last, at) });
    out.push(...push);
    last = end;
  }
  if (last < part.length) out.push({ t: 'text', v: part.slice(last) });
}

// nest pairs each closing marker with the nearest open one of its kind;
// markers in between and markers never closed stay text. Returns the
// top-level children: tokens, and {t: '*'|'**'|'~~', kids}.
function nest(tokens) {
  const root = { kind: null, kids: [] };
  const stack = [root];
  const open = { '*': 0, '**': 0, '~~': 0 };
  const top = () => stack[stack.length - 1];
  const unwind = () => { // the top frame was never closed: its marker is text
    const f = stack.pop();
    open[f.kind]--;
    const kids = top().kids;
    kids.push({ t: 'text', v: f.kind });
    for (const k of f.kids) kids.push(k);
  };
  for (const tok of tokens) {
    if (tok.t !== 'delim') {
      top().kids.push(tok);
    } else if (tok.close && open[tok.v] > 0) {
      while (top().kind !== tok.v) unwind();
      const f = stack.pop();
      open[f.kind]--;
      top().kids.push(f.kids.length ? { t: f.kind, kids: f.kids } : { t: 'text', v: f.kind + f.kind });
    } else if (tok.open && stack.length <= MAX_DEPTH) {
      stack.push({ kind: tok.v, kids: [] });
      open[tok.v]++;
    } else {
      top().kids.push({ t: 'text', v: tok.v });
    }
  }
  while (stack.length > 1) unwind();
  return root.kids;
}

function appendNodes(target, kids) {
  let text = '';
  const flush = () => {
    if (text) target.append(document.createTextNode(text));
    text = '';
  };
  for (const k of kids) {
    if (k.t === 'text') {
      text += k.v;
      continue;
    }
    flush();
    if (k.t === 'code') {
      target.append(el('code', 'md-code', k.v));
    } else if (k.t === 'link') {
      const a = el('a', 'msg-link', k.v);
      a.href = k.href;
      a.rel = 'noopener noreferrer';
      a.target = '_blank';
      target.append(a);
    } else {
      const node = el(TAGS[k.t], `md-${TAGS[k.t]}`);
      appendNodes(node, k.kids);
      target.append(node);
    }
  }
  flush();
}
