// Quoting a message in a reply: a room message's Quote action puts its
// text as written (its first lines, each behind "> ", which markdown.js
// shows as a quote) and "@author " into the composer, after what is
// already there, and focuses it. Nothing is sent until the user sends.

import { dom } from './dom.js';
import { sourceOf } from './messagelist.js';

const QUOTE_LINES = 6; // a quote recalls a message; it does not repeat it

export function quoteMessage(node) {
  const text = sourceOf(node) ?? node.querySelector('.msg-body')?.textContent ?? '';
  const lines = text.split('\n');
  const shown = lines.slice(0, QUOTE_LINES).map((l) => `> ${l}`);
  if (lines.length > QUOTE_LINES) shown.push('> …');
  const quote = `${shown.join('\n')}\n@${node.dataset.user} `;
  const input = dom.input;
  input.value = input.value.trim() ? `${input.value.replace(/\s+$/, '')}\n${quote}` : quote;
  input.focus();
  input.setSelectionRange(input.value.length, input.value.length);
  input.dispatchEvent(new Event('input', { bubbles: true })); // the composer resizes, typing is noted
}
