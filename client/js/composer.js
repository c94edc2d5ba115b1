// The composer: the text field's height and character counter, Enter to
// send (Shift+Enter for a new line), and focus. What a submitted line means
// (a command or a message) is the submit callback's business (commands.js).
// Attachments would be added here.

import { MAX_CONTENT } from './config.js';
import { dom } from './dom.js';
import { codePoints } from './util.js';

const FIELD_SIZING = typeof CSS !== 'undefined' && CSS.supports && CSS.supports('field-sizing', 'content');

export function onInput() {
  if (!FIELD_SIZING) {
    // CSSOM property writes are allowed by the CSP (only style attributes are not).
    dom.input.style.height = 'auto';
    dom.input.style.height = `${Math.min(dom.input.scrollHeight, 200)}px`;
  }
  const n = dom.input.value.length > MAX_CONTENT - 500 ? codePoints(dom.input.value) : 0;
  dom.charCount.hidden = n <= MAX_CONTENT - 500;
  dom.charCount.textContent = `${n} / ${MAX_CONTENT}`;
  dom.charCount.classList.toggle('over', n > MAX_CONTENT);
}

export function focusComposer(always) {
  // Do not pop up the on-screen keyboard on touch devices unless asked.
  if (always || window.matchMedia('(pointer: fine)').matches) dom.input.focus();
}

// Puts text in the composer to be completed, e.g. "/nick ".
export function prefill(text) {
  dom.input.value = text;
  onInput();
}

// Clears the composer if it still holds line: a command that waits for the
// server's answer (/nick) leaves its line there until it is accepted, so a
// refusal leaves it to be corrected.
export function clearComposerIf(line) {
  if (dom.input.value.trim() !== line.trim()) return;
  dom.input.value = '';
  onInput();
}

// submit(raw) returns whether the line was accepted; the composer is then cleared.
export function wireComposer(submit) {
  let swallowEnter = false;

  function submitComposer() {
    const raw = dom.input.value;
    if (!raw.trim()) return;
    if (submit(raw)) {
      dom.input.value = '';
      onInput();
    }
  }

  function onComposerKey(ev) {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
      ev.preventDefault();
      swallowEnter = true;
      submitComposer();
    }
  }

  // Some input paths (automation, a few IMEs) still deliver the newline of an
  // Enter whose keydown was cancelled: drop it until the key is released.
  function onComposerBeforeInput(ev) {
    if (!swallowEnter) return;
    const newline = ev.inputType === 'insertLineBreak' || ev.inputType === 'insertParagraph' ||
      (ev.inputType === 'insertText' && /^[\r\n]+$/.test(ev.data || ''));
    if (newline) ev.preventDefault();
  }

  dom.composer.addEventListener('submit', (ev) => { ev.preventDefault(); submitComposer(); });
  dom.input.addEventListener('keydown', onComposerKey);
  dom.input.addEventListener('beforeinput', onComposerBeforeInput);
  dom.input.addEventListener('keyup', (ev) => { if (ev.key === 'Enter') swallowEnter = false; });
  dom.input.addEventListener('blur', () => { swallowEnter = false; });
  dom.input.addEventListener('input', onInput);
}
