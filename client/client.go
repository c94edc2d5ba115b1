// Package client holds parley's web client (vanilla HTML, CSS and
// JavaScript in native ES modules, no build step), embedded so the binary
// serves it as it is.
package client

import "embed"

// Files holds index.html, its two style sheets (style.css, chat.css), the entry module app.js and the
// modules it imports, js/*.js, and the service worker sw.js (the offline shell). Only these: nothing
// else in this folder (no Go source, no tests, no testdata) is embedded, so nothing else can be served.
//
//go:embed index.html style.css chat.css app.js sw.js js/*.js
var Files embed.FS
