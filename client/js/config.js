// Limits and timings of the client. The limits mirror the server's
// (docs/protocol.md); the timings are the page's own.

export const NAME_RE = /^[A-Za-z0-9_-]{1,32}$/;
export const PASSWORD_MIN_BYTES = 8;
export const PASSWORD_MAX_BYTES = 1024;
export const ROOM_RE = /^[a-z0-9_-]{1,64}$/;
export const MAX_CONTENT = 4000; // characters (code points), as the server counts them
export const HISTORY_PAGE = 50;
export const GAP_PAGE = 200; // the server's History maximum
export const GROUP_GAP_MS = 5 * 60 * 1000;
export const ROOMLIST_EVERY_MS = 10000;
export const ROOMLIST_LIMIT = 100; // rooms a list asks for: the server sends the busiest, and says how many matched
export const NAME_RETRY_MS = 3000;
export const NAME_RETRIES = 15; // ~45 s: longer than the server's ping timeout for a dead old session
export const BACKOFF_BASE_MS = 500;
export const BACKOFF_MAX_MS = 30000;
export const AUTO_RETRY_MAX = 4;
// A member who leaves and is back within this long (a reload, a dropped
// connection) was never gone: neither the leave nor the join is told.
export const PRESENCE_GRACE_MS = 5000;
// An account tells the server what it has read at most once a second per
// conversation: reading a busy room must not cost a request per message.
export const MARK_READ_MS = 1000;
export const PREVIEW_CHARS = 80; // a DM's last message, as shown in the list
// The server allows 20 frames/s with a burst of 40; stay well under it so
// that a reconnect (re-joins + resends) never trips rate_limited.
export const BUCKET_SIZE = 20;
export const BUCKET_REFILL_PER_MS = 15 / 1000;
export const STORE_NAME = 'parley.username'; // localStorage: survives reloads and new tabs
export const STORE_ROOMS = 'parley.rooms'; // sessionStorage: this tab's joined rooms
export const STORE_VIEW = 'parley.view'; // sessionStorage: this tab's current room
export const STORE_SIGNIN = 'parley.signin'; // sessionStorage: show the sign-in screen after the reload, with this note
export const DEFAULT_ROOM = 'general';
