// The wire protocol as this client speaks it (docs/protocol.md): the
// subprotocol, the shape of every request, and how server frames decode.
// A new request type (edit, react, search, upload...) gets its builder here.

import { ROOMLIST_LIMIT } from './config.js';
import { utf8Bytes } from './util.js';

// With this subprotocol one server frame may carry several JSON objects, one
// per line. Client -> server is always one JSON object per frame.
export const SUBPROTOCOL = 'parley.batch.v1';

const MAX_FRAME_BYTES = 16 * 1024 - 256; // the server closes with 1009 above 16 KiB

// Requests, without their ref (connection.js adds one to each).
export const req = {
  setUsername: (username) => ({ type: 'SetUsername', username }),
  joinRoom: (room, since) => ({ type: 'JoinRoom', room, since }),
  leaveRoom: (room) => ({ type: 'LeaveRoom', room }),
  listRooms: (prefix) => (prefix ? { type: 'ListRooms', limit: ROOMLIST_LIMIT, prefix } : { type: 'ListRooms', limit: ROOMLIST_LIMIT }),
  history: (room, before, limit) => ({ type: 'History', room, before, limit }),
  // since: the last id held, for the edits and deletions missed up to it
  historyWith: (user, before, limit, since) => ({ type: 'History', with: user, before, limit, since }),
  conversations: () => ({ type: 'Conversations' }),
  // target: {room} or {with}
  markRead: (target, id) => ({ type: 'MarkRead', ...target, id }),
  sendMessage: (room, content, nonce) => ({ type: 'SendMessage', room, content, nonce }),
  privateMessage: (to, content, nonce) => ({ type: 'PrivateMessage', to, content, nonce }),
  // target: {room}, {with} or {} (a private message, by its id)
  editMessage: (target, id, content) => ({ type: 'EditMessage', ...target, id, content }),
  deleteMessage: (target, id) => ({ type: 'DeleteMessage', ...target, id }),
  // where: {} (every room one is in), {room} or {with}
  search: (query, where, limit) => ({ type: 'Search', query, ...where, limit }),
};

// Whether frame, with a ref of the longest length this page uses, stays
// under the server's frame limit.
export function fitsInFrame(frame) {
  return utf8Bytes(JSON.stringify({ ...frame, ref: '0000000000' })) <= MAX_FRAME_BYTES;
}

// The server's objects in one WebSocket message; what does not parse is
// logged and skipped.
export function decodeFrames(data, protocol) {
  if (typeof data !== 'string') return [];
  const parts = protocol === SUBPROTOCOL ? data.split('\n') : [data];
  const frames = [];
  for (const part of parts) {
    if (!part.trim()) continue;
    try {
      frames.push(JSON.parse(part));
    } catch {
      console.warn('parley: unparsable frame', part.slice(0, 200));
    }
  }
  return frames;
}
