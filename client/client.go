// Package client holds parley's web client (vanilla HTML, CSS and
// JavaScript, no build step), embedded so the binary serves it as it is.
package client

import "embed"

// Files holds index.html, style.css and app.js.
//
//go:embed index.html style.css app.js
var Files embed.FS
