// Small helpers with no state of their own: browser storage that may be
// disabled, name comparison, counting, nonces.

export function readStore(store, key) {
  try { return store.getItem(key); } catch { return null; }
}

export function writeStore(store, key, value) {
  try {
    if (value == null) store.removeItem(key); else store.setItem(key, value);
  } catch { /* storage disabled: the page still works, it just forgets */ }
}

export const lower = (s) => String(s).toLowerCase();
export const sameName = (a, b) => a != null && b != null && lower(a) === lower(b);
export const codePoints = (s) => { let n = 0; for (const _ of s) n++; return n; };
export const utf8Bytes = (s) => new TextEncoder().encode(s).length;
export const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

export function makeNonce() {
  // crypto.randomUUID needs a secure context; getRandomValues works on plain http too.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function normalizeRoom(name) {
  return lower(String(name || '').trim().replace(/^#/, ''));
}
