// The offline shell: registers the service worker (sw.js), which keeps a
// copy of this page and serves it when the server cannot be reached, so a
// reload then still shows parley, saying it is retrying (banner.js).

export function registerShell() {
  if (!('serviceWorker' in navigator) || !window.isSecureContext) return;
  navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(() => {
    // No offline copy (e.g. storage disabled): the page works as before.
  });
}
