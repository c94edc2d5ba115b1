/*
 * parley's service worker: the offline shell. It keeps a copy of the page
 * (index.html, the style sheets, app.js and every module it imports) and
 * serves it when the network fails, so that reloading while the server is
 * down shows parley's own page ("can't reach the server, retrying…") rather
 * than the browser's error page. Network first, always: while the server
 * answers, the page is exactly what it serves, and each answer refreshes the
 * copy. The socket (/ws), the API and anything else are never touched.
 */

const CACHE = 'parley-shell-v1';

// The shell's own files: the page and what it loads. Modules are found by
// reading the imports, so a new module needs no list here.
const isShell = (url) => url.origin === self.location.origin &&
  (url.pathname === '/' || url.pathname === '/app.js' || /^\/[a-z]+\.css$/.test(url.pathname) ||
   /^\/js\/[A-Za-z0-9_-]+\.js$/.test(url.pathname));

const IMPORT_RE = /(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+\.js)['"]/g;
const LINK_RE = /\b(?:src|href)="(\/[^"]*)"/g;

// Fetches the shell from the page down, following imports, into the cache.
async function precache() {
  const cache = await caches.open(CACHE);
  const seen = new Set();
  const queue = ['/'];
  while (queue.length) {
    const path = queue.shift();
    if (seen.has(path)) continue;
    seen.add(path);
    const res = await fetch(path, { cache: 'no-cache' });
    if (!res.ok) throw new Error(`precache ${path}: ${res.status}`);
    await cache.put(path, res.clone());
    const text = await res.text();
    const re = path === '/' ? LINK_RE : IMPORT_RE;
    for (const m of text.matchAll(re)) {
      const url = new URL(m[1], new URL(path, self.location.origin));
      if (isShell(url)) queue.push(url.pathname);
    }
  }
}

self.addEventListener('install', (ev) => {
  ev.waitUntil(precache().then(() => self.skipWaiting()));
});

self.addEventListener('activate', (ev) => {
  ev.waitUntil((async () => {
    for (const key of await caches.keys()) if (key !== CACHE) await caches.delete(key);
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (ev) => {
  const req = ev.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  const navigate = req.mode === 'navigate' && url.origin === self.location.origin && url.pathname === '/';
  if (!navigate && !isShell(url)) return;
  const key = navigate ? '/' : url.pathname;
  ev.respondWith((async () => {
    try {
      const res = await fetch(req);
      if (res.ok) {
        const copy = res.clone();
        ev.waitUntil(caches.open(CACHE).then((c) => c.put(key, copy)));
      }
      return res;
    } catch (err) {
      const cached = await caches.match(key);
      if (cached) return cached;
      throw err;
    }
  })());
});
