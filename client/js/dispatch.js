// Which function handles each object the server sends, and, for the
// replies (Ack, Error), which request they answer: the meta stored with the
// request's ref says its kind. A new event type (an edit, a reaction) gets
// its line in handlers; a new request kind its case in onAck/onError.

import { takeRef } from './connection.js';
import { dom } from './dom.js';
import { onConversations, onPrivateMessage } from './dms.js';
import { onChangeError, onMessageDeleted, onMessageEdited } from './edits.js';
import { onHistory, onHistoryError } from './history.js';
import { onReactError, onReactions } from './reactions.js';
import { onUserTyping, typingDone } from './typing.js';
import { notice } from './messagelist.js';
import { onSendAck, onSendError } from './messages.js';
import { onSearchError, onSearchResults } from './search.js';
import {
  onJoinAck, onJoinError, onJoined, onLeaveAck, onLeft, onMembers, onRoomList, onRoomMessage, onSystem, onUserJoined, onUserRenamed,
  onUserLeft,
} from './rooms.js';
import { onNickAck, onNickError, onWelcome } from './session.js';
import { state } from './state.js';
import { onMarkError, onReadMarker, onUnread } from './unread.js';
import { lower } from './util.js';

function onAck(f) {
  const meta = takeRef(f.ref);
  if (!meta) return;
  switch (meta.kind) {
    case 'nick': onNickAck(meta, f); break;
    case 'join': onJoinAck(meta, f); break;
    case 'leave': onLeaveAck(meta, f); break;
    case 'send': onSendAck(meta, f); break;
    default: break;
  }
}

function onError(f) {
  const meta = takeRef(f.ref);
  const text = f.message || f.code || 'error';
  switch (meta && meta.kind) {
    case 'nick': onNickError(meta, f); break;
    case 'join': onJoinError(meta, f); break;
    case 'send': onSendError(meta, f); break;
    case 'leave': notice(`Could not leave #${meta.room}: ${text}`, 'error'); break;
    case 'older':
    case 'gap':
    case 'first': onHistoryError(meta, f); break;
    case 'mark': onMarkError(meta, f); break;
    case 'edit':
    case 'delete': onChangeError(meta, f); break;
    case 'react': onReactError(meta, f); break;
    case 'search': onSearchError(meta, f); break;
    case 'conversations': notice(`Could not load your conversations: ${text}`, 'error'); break;
    default:
      if (state.screen === 'chat') notice(text, 'error');
      else dom.nameError.textContent = text;
  }
}

export const handlers = {
  Welcome: onWelcome,
  Ack: onAck,
  Error: onError,
  Message: (f) => { typingDone('room', f.room, f.username); onRoomMessage(f); },
  PrivateMessage: (f) => { typingDone('dm', lower(f.from), f.from); onPrivateMessage(f); },
  SystemMessage: onSystem,
  UserJoined: onUserJoined,
  UserLeft: onUserLeft,
  RoomList: onRoomList,
  UserRenamed: onUserRenamed,
  History: onHistory,
  Members: onMembers,
  Joined: onJoined,
  Left: onLeft,
  Unread: onUnread,
  ReadMarker: onReadMarker,
  Conversations: onConversations,
  MessageEdited: onMessageEdited,
  MessageDeleted: onMessageDeleted,
  Reactions: onReactions,
  UserTyping: onUserTyping,
  SearchResults: onSearchResults,
};
