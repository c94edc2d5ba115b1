// Files in messages (docs/protocol.md, "Files and images"): a message
// refers to an uploaded file by carrying its URL, as `![name](/files/<id>/<name>)`
// for an image or `[name](/files/<id>/<name>)` for any other file (a bare
// /files/<id>/<name> works too). Such references are taken out of the text
// and shown under it: an image as its thumbnail (a link to the image), any
// other file as a download chip. Only same-origin /files/ paths with a
// 64-hex id count; the name is text, set through textContent.

import { el } from './dom.js';

const ID = '[0-9a-f]{64}';
const NAME = "[A-Za-z0-9._~$&+,;=:@%-]{1,600}"; // what the server's path escaping leaves
const REF_RE = new RegExp(`!?\\[([^\\]\\n]{0,300})\\]\\((/files/(${ID})/(${NAME}))\\)|(^|\\s)(/files/(${ID})/(${NAME}))(?=$|\\s)`, 'g');
const IMAGE_EXT = /\.(png|jpe?g|gif|webp)$/i;

function decodeName(raw) {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

// splitAttachments returns the text without its file references, and the
// files they name, at most 10 (more stay as text).
export function splitAttachments(content) {
  const files = [];
  const text = content.replace(REF_RE, (m, label, url, id, rawName, lead, bareUrl, bareId, bareName) => {
    if (files.length >= 10) return m;
    const name = decodeName(rawName || bareName);
    files.push({ url: url || bareUrl, id: id || bareId, name, image: IMAGE_EXT.test(name) });
    return lead || '';
  });
  return { text: files.length ? text.replace(/\n{3,}/g, '\n\n').trim() : content, files };
}

// fileIcon is a document outline, drawn (no emoji font is needed).
function fileIcon() {
  const NS = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(NS, 'svg');
  const attrs = {
    class: 'msg-file-icon', viewBox: '0 0 24 24', width: '16', height: '16', fill: 'none', stroke: 'currentColor',
    'stroke-width': '2', 'stroke-linejoin': 'round', 'aria-hidden': 'true', focusable: 'false',
  };
  for (const [k, v] of Object.entries(attrs)) svg.setAttribute(k, v);
  const path = document.createElementNS(NS, 'path');
  path.setAttribute('d', 'M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8zM14 2v6h6');
  svg.append(path);
  return svg;
}

// plainFiles is content with each file reference replaced by the file's
// name: for one-line previews (a DM's last message).
export function plainFiles(content) {
  return String(content).replace(REF_RE, (m, label, url, id, rawName, lead, bareUrl, bareId, bareName) =>
    (lead || '') + decodeName(rawName || bareName));
}

// fileChip is a download link for a file.
function fileChip(f) {
  const a = el('a', 'msg-file');
  a.href = f.url;
  a.download = f.name;
  a.append(fileIcon(), el('span', 'msg-file-name', f.name));
  a.title = `Download ${f.name}`;
  return a;
}

// imagePreview is the image's thumbnail, opening the image itself; if the
// thumbnail cannot be loaded (not an image after all, or gone), a chip.
function imagePreview(f) {
  const a = el('a', 'msg-image');
  a.href = f.url;
  a.target = '_blank';
  a.rel = 'noopener noreferrer';
  const img = el('img');
  img.src = `/thumbs/${f.id}`;
  img.alt = f.name;
  img.loading = 'lazy';
  img.decoding = 'async';
  img.addEventListener('error', () => a.replaceWith(fileChip(f)), { once: true });
  a.append(img);
  return a;
}

// renderBody fills a message body: renderText for the text, then the files.
export function renderBody(body, content, renderText) {
  const { text, files } = splitAttachments(content);
  if (text) renderText(body, text);
  if (!files.length) return;
  const box = el('div', 'msg-files');
  for (const f of files) box.append(f.image ? imagePreview(f) : fileChip(f));
  body.append(box);
}

// fileRef is how a message refers to an upload (the server's reply).
export function fileRef(up) {
  const label = String(up.name).replace(/[[\]\n]/g, '_');
  return up.thumb ? `![${label}](${up.url})` : `[${label}](${up.url})`;
}
