// Sharing a file (docs/protocol.md, "Files and images"): pick one with
// the composer's paperclip button, paste one, or drop one on the
// conversation. Each is posted to /api/upload (XMLHttpRequest, for its
// upload progress events), one at a time, with its progress under the
// composer; once stored, its reference (attachments.js, fileRef) is added
// to the composer, to be sent with a caption or on its own. The server
// decides what is allowed (type, size, quota, accounts only or guests too)
// and says why not; what it can tell beforehand (GET /api/upload: the size
// limit, whether guests may) the page says without sending the file.

import { fileRef } from './attachments.js';
import { onInput } from './composer.js';
import { dom } from './dom.js';
import { notice } from './messagelist.js';
import { state } from './state.js';

const $ = (id) => document.getElementById(id);
const ui = {
  button: $('attach-button'),
  input: $('file-input'),
  status: $('upload-status'),
  name: $('upload-name'),
  progress: $('upload-progress'),
  cancel: $('upload-cancel'),
};

// What the server allows (GET /api/upload): null until known. The button
// shows once it is known, and never if the server has uploads off.
let limits = null;

const queue = [];
let current = null; // the XMLHttpRequest in flight
let currentFile = null;

const REASONS = {
  unauthorized: 'Sign in to share files: guests cannot upload on this server.',
  too_large: 'That file is larger than this server accepts.',
  type_not_allowed: 'That kind of file cannot be shared: images, PDF, plain text, zip, audio and video only.',
  quota_exceeded: 'You have uploaded as much as this server allows for now. Try again later.',
  image_too_large: 'That image is too large (too many pixels) to share.',
  bad_image: 'That image is damaged and cannot be shown.',
  empty_file: 'That file is empty.',
  forbidden_origin: 'The server refused the upload from this page.',
  storage_full: 'The server is short of disk space and takes no files for now.',
};

function reason(xhr) {
  let code = '';
  try {
    code = JSON.parse(xhr.responseText).error || '';
  } catch { /* not JSON: a proxy's page */ }
  if (xhr.status === 413) code = 'too_large';
  if (code === 'unauthorized' && state.account) return 'Your session has ended: sign in again to share files.';
  return REASONS[code] || `The upload failed (${xhr.status || 'no answer'}). Try again.`;
}

// addToComposer appends a reference to the composer on a line of its own.
function addToComposer(ref) {
  const v = dom.input.value;
  dom.input.value = v && !v.endsWith('\n') ? `${v}\n${ref}` : v + ref;
  onInput();
  dom.input.focus();
}

function showStatus() {
  ui.status.hidden = !currentFile;
  if (!currentFile) return;
  const more = queue.length ? ` (${queue.length} more)` : '';
  ui.name.textContent = `Uploading ${currentFile.name || 'a file'}${more}`;
}

function next() {
  const file = queue.shift();
  currentFile = file || null;
  showStatus();
  if (!file) return; // the bar keeps the last upload's end, hidden
  ui.progress.value = 0;
  const form = new FormData();
  form.append('file', file, file.name || 'pasted');
  const xhr = new XMLHttpRequest();
  current = xhr;
  xhr.upload.addEventListener('progress', (ev) => {
    if (ev.lengthComputable) ui.progress.value = Math.round((100 * ev.loaded) / ev.total);
  });
  xhr.addEventListener('loadend', () => {
    current = null;
    if (xhr.status === 201) {
      try {
        addToComposer(fileRef(JSON.parse(xhr.responseText)));
      } catch {
        notice('The upload’s answer could not be read. Try again.', 'error');
      }
    } else if (xhr.readyState === 4 && !xhr.aborted) {
      notice(`${file.name}: ${reason(xhr)}`, 'error');
    }
    next();
  });
  xhr.open('POST', '/api/upload');
  xhr.send(form);
}

function fmtSize(n) {
  return n >= 1 << 20 ? `${Math.round(n / (1 << 20))} MB` : `${Math.round(n / 1024)} KB`;
}

// refusal is why the server would refuse file, as far as the page can tell
// before sending it; '' if it may go.
function refusal(file) {
  if (!limits) return '';
  if (!state.account && !limits.guests) return REASONS.unauthorized;
  if (file && file.size > limits.max_bytes) return `That file is larger than this server accepts (${fmtSize(limits.max_bytes)}).`;
  return '';
}

export function uploadFiles(files) {
  for (const f of files) {
    const why = refusal(f);
    if (why) notice(`${f.name}: ${why}`, 'error');
    else queue.push(f);
  }
  if (!current) next();
  else showStatus();
}

function filesOf(dt) {
  return dt ? [...dt.files] : [];
}

export function wireUploads() {
  fetch('/api/upload', { credentials: 'same-origin' })
    .then((r) => (r.ok ? r.json() : null))
    .then((l) => {
      limits = l;
      ui.button.hidden = !l;
    })
    .catch(() => { ui.button.hidden = false; }); // not known now: the server will say at upload time
  ui.button.addEventListener('click', () => {
    const why = refusal(null);
    if (why) notice(why, 'error'); // say it now, rather than after a file is picked
    else ui.input.click();
  });
  ui.input.addEventListener('change', () => {
    uploadFiles([...ui.input.files]);
    ui.input.value = ''; // the same file may be picked again
  });
  ui.cancel.addEventListener('click', () => {
    queue.length = 0;
    if (current) {
      current.aborted = true;
      current.abort();
    }
  });
  dom.input.addEventListener('paste', (ev) => {
    const files = filesOf(ev.clipboardData);
    if (!files.length) return; // text pastes as text
    ev.preventDefault();
    uploadFiles(files);
  });
  dom.chat.addEventListener('dragover', (ev) => {
    if (![...(ev.dataTransfer?.types || [])].includes('Files')) return;
    ev.preventDefault(); // allows the drop
    dom.chat.classList.add('drop-target');
  });
  dom.chat.addEventListener('dragleave', (ev) => {
    if (!dom.chat.contains(ev.relatedTarget)) dom.chat.classList.remove('drop-target');
  });
  dom.chat.addEventListener('drop', (ev) => {
    dom.chat.classList.remove('drop-target');
    const files = filesOf(ev.dataTransfer);
    if (!files.length) return;
    ev.preventDefault();
    uploadFiles(files);
  });
}
