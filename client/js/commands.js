// What a line typed in the composer means: "/command args" runs a command,
// "//text" sends text that starts with "/", anything else is a message to
// the current conversation. A new command gets a line in COMMANDS (for
// /help) and a case in runCommand.

import { NAME_RE } from './config.js';
import { closeDm, openDm } from './dms.js';
import { notice, requireReady } from './messagelist.js';
import { sendChat } from './messages.js';
import { leaveRoom, openRoom, requestRoomList } from './rooms.js';
import { takeName } from './session.js';
import { currentRoomName, state } from './state.js';
import { lower } from './util.js';

const COMMANDS = [
  ['/nick', '<name>', 'change your name'],
  ['/join', '<room>', 'join (or create) a room and switch to it'],
  ['/pm', '<user> [message]', 'open a private conversation, optionally sending a message'],
  ['/rooms', '[prefix]', 'list the rooms (the busiest, or those whose names start with prefix) with their member counts'],
  ['/leave', '[room]', 'leave the current room (or the one named); closes a private conversation'],
  ['/help', '', 'show this help'],
];

// Returns true when the line was accepted (the composer is then cleared);
// /nick clears it itself once the server has taken the name.
export function submitLine(raw) {
  const start = raw.trimStart();
  if (start.startsWith('/') && !start.startsWith('//')) return runCommand(raw.trim());
  return sendChat(start.startsWith('//') ? start.slice(1) : raw);
}

function runCommand(line) {
  const m = /^\/(\S+)\s*([\s\S]*)$/.exec(line);
  if (!m) return false;
  const cmd = lower(m[1]);
  const args = m[2].trim();
  switch (cmd) {
    case 'nick':
    case 'name':
      if (state.account) {
        notice(`You are signed in as ${state.account}: the name of an account cannot be changed.`, 'error');
        return false;
      }
      if (!NAME_RE.test(args)) {
        notice('Usage: /nick name (1–32 letters, digits, “_” or “-”).', 'error');
        return false;
      }
      if (args === state.username) {
        notice(`You are already ${args}.`);
        return true;
      }
      if (!requireReady()) return false;
      // The line stays until the server takes the name (session.js clears
      // it then): a name in use is corrected, not typed again.
      takeName(args, 'command', line);
      return false;
    case 'join':
      if (!args) {
        notice('Usage: /join room', 'error');
        return false;
      }
      return openRoom(args.split(/\s+/)[0]);
    case 'pm':
    case 'msg': {
      const pm = /^(\S+)(?:\s+([\s\S]*))?$/.exec(args);
      if (!pm) {
        notice('Usage: /pm user [message]', 'error');
        return false;
      }
      if (!openDm(pm[1])) return false;
      if (pm[2] && pm[2].trim()) return sendChat(pm[2]);
      return true;
    }
    case 'rooms':
    case 'list':
      if (!requireReady()) return false;
      return requestRoomList(true, args.trim().toLowerCase().replace(/^#/, ''));
    case 'leave':
    case 'part':
      if (args) return leaveRoom(args);
      if (state.view && state.view.kind === 'dm') {
        closeDm(state.view.key);
        return true;
      }
      if (!currentRoomName()) {
        notice('You are not in a room.', 'error');
        return false;
      }
      return leaveRoom(currentRoomName());
    case 'help':
    case '?':
      showHelp();
      return true;
    default:
      notice(`Unknown command /${m[1]}. Type /help to see the commands.`, 'error');
      return false;
  }
}

function showHelp() {
  const lines = ['Commands:'];
  for (const [name, args, what] of COMMANDS) lines.push(`  ${name}${args ? ' ' + args : ''}  —  ${what}`);
  lines.push('Enter sends, Shift+Enter starts a new line, “//text” sends text that starts with “/”.');
  lines.push('Alt+↑ / Alt+↓ switch conversations; Escape closes the side panels.');
  notice(lines.join('\n'), 'help');
}
