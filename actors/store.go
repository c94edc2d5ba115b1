package actors

import (
	"context"
	"errors"
	"time"

	"parley/internal/textsearch"
)

// ErrDuplicate is wrapped in the error a Store's Append passes to done when
// the message's id, or its (room, recipient, sender, nonce), is already
// stored: the message was not stored again. For a nonce this means two
// resends raced past FindNonce; the caller can look the nonce up again and
// answer with the stored id. Test for it with errors.Is.
var ErrDuplicate = errors.New("duplicate message")

// ErrNoConversation is wrapped in the error of a Store's MarkRead of a
// conversation that its owner does not have.
var ErrNoConversation = errors.New("no such conversation")

// UnreadMax is the most an unread count says: UnreadMax means that many or
// more. Counting stops there, so that a long backlog costs a bounded read.
const UnreadMax = 100

// StoredMessage is one chat message as the Store keeps it. Room messages have
// Room set and Private false; private messages have Recipient set, Room empty
// and Private true.
type StoredMessage struct {
	ID        string // ULID, sortable as a string in delivery order within a room
	Room      string
	Username  string // the sender, as the server knew it when the message was sent
	Recipient string // private messages only
	Content   string
	Timestamp time.Time // UTC, millisecond precision
	Private   bool
	// Kept marks a private message between two accounts: the store keeps
	// it in the conversation of each, under the Skeleton of Username and
	// of Recipient (see ConversationQuery). False for every other message:
	// a guest's private messages are stored but never served back. (A bool
	// here costs a room message nothing: it sits in Private's padding.)
	Kept  bool
	Nonce string // optional, chosen by the client to make resends idempotent
	// EditedAt is when the message was last edited or deleted (UTC,
	// millisecond precision); zero if never. Deleted marks a message its
	// author (or an admin) took back: it keeps its id and place, and its
	// Content is "".
	EditedAt time.Time
	Deleted  bool
	// Mentions are the names a room message mentions, as displayed
	// (mentions.go): stored with it. Reactions are its reaction counts,
	// filled in only by Annotate, for History (reactions.go).
	Mentions  []string
	Reactions []ReactionCount
}

// ErrNoMessage is wrapped in the error of a Store's Message or
// ChangeMessage when no room message has the id (in the room, for
// ChangeMessage), or, for ChangeMessage, when it is deleted already.
var ErrNoMessage = errors.New("no such message")

// MessageChange is an edit (Content set) or a deletion (Deleted) of one
// room message, or (Private, Room "") of one private message, made at At.
type MessageChange struct {
	ID      string
	Room    string
	Content string // the new content; ignored for a deletion
	Deleted bool
	At      time.Time // UTC, millisecond precision: stored as EditedAt
	// Private names a private message (privateedits.go): the store also
	// marks it changed in the conversations that keep it, for their
	// catch-up (ChangesQuery with Owner).
	Private bool
}

// ChangesQuery selects the room messages with id <= Through (the messages a
// client already had) edited or deleted after After: what a client that
// was away missed of the messages it had. At After counts as after: a
// change made within the millisecond of the last message a client had is
// sent again rather than missed. With Owner set, it selects the messages
// of the conversation Owner keeps with Peer (skeletons, as in
// ConversationQuery) instead of a room's (Changes only).
type ChangesQuery struct {
	Room    string
	Owner   string
	Peer    string
	Through string
	After   time.Time
	Limit   int // at most this many, the most recently changed
}

// RoomRecord is a room as the Store keeps it.
type RoomRecord struct {
	Name      string
	CreatedAt time.Time
}

// HistoryQuery selects a page of one room's public messages. Bounds are
// message ids and exclusive, except Through which is inclusive; an empty
// bound is no bound.
type HistoryQuery struct {
	Room    string
	After   string // only messages with id > After
	Before  string // only messages with id < Before
	Through string // only messages with id <= Through
	Limit   int    // at most this many, the newest of the range
	// MaxBytes bounds the page by MessageSize: the newest of the range
	// that fit, and more is true if any were left out. 0: no bound.
	MaxBytes int
}

// ConversationQuery selects a page of the conversation between two
// accounts, as Owner keeps it: the private messages between Owner and
// Peer (both skeletons), either way. Bounds as in HistoryQuery.
type ConversationQuery struct {
	Owner    string
	Peer     string
	Before   string // only messages with id < Before
	Limit    int    // at most this many, the newest of the range
	MaxBytes int    // as HistoryQuery's
}

// Owner is the account whose kept state a query reads or writes: Key is
// its name's Skeleton (how the store keys it), Name its name as displayed
// (how its own messages are told from others', which are the unread ones).
type Owner struct {
	Key  string
	Name string
}

// ReadState is an account's read marker in a room or a conversation, and
// what is unread after it.
type ReadState struct {
	Room   string // a room's marker; or
	Peer   string // a conversation's: the other account's skeleton
	With   string // a conversation's: the other account's name, as displayed (set by the store)
	Read   string // the id of the last message read; "" for none
	Unread int    // messages after Read not sent by the owner, at most UnreadMax
	// Mentions: of those, the ones that mention the owner (rooms only).
	Mentions int
}

// ConversationSummary is one of an account's conversations: its last
// message, and the account's read state in it.
type ConversationSummary struct {
	Last   StoredMessage
	Read   string
	Unread int
}

// Store is what the actors need from persistence. It is declared here, by its
// consumer; package persistence satisfies it.
type Store interface {
	// Append queues m for the next batch without blocking. It reports false,
	// and never calls done, when the queue is full (in messages or bytes) or the
	// store is closed. Otherwise done is called exactly once, on the store's
	// own goroutine, after the transaction holding m committed (nil) or failed
	// (an error wrapping ErrDuplicate if m's id, or its nonce from the same
	// sender to the same room or recipient, is already stored); done must not
	// block. The store owns m from the call on.
	Append(m *StoredMessage, done func(error)) bool

	// Sync returns once everything appended before the call has been committed
	// or has failed.
	Sync(ctx context.Context) error

	// CreateRoom records a room; recording one that exists is not an error.
	CreateRoom(ctx context.Context, name string, createdAt time.Time) error

	// Rooms lists every recorded room that holds a message: a room that
	// never did is forgotten once empty (Hub.forgetRoom), and not brought
	// back by a restart.
	Rooms(ctx context.Context) ([]RoomRecord, error)

	// History returns the newest q.Limit public messages of q.Room within the
	// bounds, oldest first, and whether older ones within the bounds were left out.
	History(ctx context.Context, q HistoryQuery) (msgs []StoredMessage, more bool, err error)

	// Conversation returns the newest q.Limit messages of a conversation
	// within the bounds, oldest first, and whether older ones were left out.
	Conversation(ctx context.Context, q ConversationQuery) (msgs []StoredMessage, more bool, err error)

	// Conversations returns each of owner's conversations with its last
	// message and owner's read state, newest first, at most limit of them,
	// and whether others were left out.
	Conversations(ctx context.Context, owner Owner, limit int) (convs []ConversationSummary, more bool, err error)

	// AccountRooms returns the rooms the account (a skeleton) is in, sorted.
	AccountRooms(ctx context.Context, owner string) ([]string, error)

	// SetAccountRoom records that the account (a skeleton) joined room, or
	// left it. A join also moves the account's marker in the room forward
	// to lastID (the room's last message when it joined; "" for none), so
	// that what was said before is not unread. A join is not recorded when
	// the account already has max rooms recorded.
	SetAccountRoom(ctx context.Context, owner, room string, joined bool, lastID string, max int) error

	// MarkRead moves owner's marker in mark.Room, or in the conversation
	// with mark.Peer, forward to mark.Read (never back), and returns the
	// marker as stored with the unread count after it (and, for a
	// conversation, With). A conversation owner does not have is an error
	// wrapping ErrNoConversation.
	MarkRead(ctx context.Context, owner Owner, mark ReadState) (ReadState, error)

	// DeleteRoom deletes a room's record, its messages, and every
	// account's membership and read marker in it.
	DeleteRoom(ctx context.Context, room string) error

	// RoomsRead returns owner's read state in each of rooms, in order.
	RoomsRead(ctx context.Context, owner Owner, rooms []string) ([]ReadState, error)

	// LastID returns the greatest message id stored for room, or "" if none.
	LastID(ctx context.Context, room string) (string, error)

	// Message returns the room message with id (private messages are not
	// returned): an error wrapping ErrNoMessage if there is none.
	Message(ctx context.Context, id string) (StoredMessage, error)

	// PrivateMessage returns the private message with id (room messages
	// are not returned; Kept is not set): an error wrapping ErrNoMessage
	// if there is none.
	PrivateMessage(ctx context.Context, id string) (StoredMessage, error)

	// ChangeMessage stores an edit or a deletion of a room message (or,
	// with c.Private, of a private message), durably before it returns. A
	// message that is not in c.Room (not private, for c.Private), or is
	// already deleted, is not changed: an error wrapping ErrNoMessage.
	ChangeMessage(ctx context.Context, c MessageChange) error

	// Changes returns the messages q selects, most recently changed first.
	Changes(ctx context.Context, q ChangesQuery) ([]StoredMessage, error)

	// React stores r (reactions.go): adds the reaction, or takes it back,
	// and returns the message's counts after it, first reacted first, and
	// whether anything changed. A message that is not in r.Room, or is
	// deleted, is an error wrapping ErrNoMessage; a new emoji on a message
	// that has r.Max distinct ones already, ErrTooManyReactions.
	React(ctx context.Context, r Reaction) (counts []ReactionCount, changed bool, err error)

	// Annotate fills in the Mentions and Reactions of msgs (room messages
	// of one page), marking as Mine the reactions of reactor.
	Annotate(ctx context.Context, msgs []StoredMessage, reactor string) error

	// ReactionChanges returns the ids of the messages q selects whose
	// reactions changed at or after q.After, most recently changed first.
	ReactionChanges(ctx context.Context, q ChangesQuery) ([]string, error)

	// Search returns the messages q selects that hold every term, best
	// ranked first (ties: newest first), at most q.Limit, and whether
	// more matched. Conversation messages come back Kept.
	Search(ctx context.Context, q SearchQuery) (msgs []StoredMessage, more bool, err error)

	// FindNonce returns the id and timestamp of the message that sender already
	// stored with nonce in room (or, for private messages, to recipient), if any.
	// ok is false when there is none.
	FindNonce(ctx context.Context, key NonceKey) (id string, ts time.Time, ok bool, err error)
}

// NonceKey names one idempotent send: the same client nonce from the same
// sender to the same room (or private recipient).
type NonceKey struct {
	Room      string // empty for private messages
	Recipient string // private messages only, case-folded
	Username  string // sender, case-folded
	Nonce     string
}

// SearchRecent bounds the matches a Search ranks (see SearchQuery).
const SearchRecent = 10000

// SearchQuery selects the messages a Search looks through, and what it
// looks for: either Rooms (room messages of those rooms) or the
// conversation Owner keeps with Peer (both skeletons, as in
// ConversationQuery). A deleted message is never found. When more than
// SearchRecent messages in scope match, the ranking is among the newest
// SearchRecent of them: older ones are reached with Before (or more
// words), and a word in most messages costs what a word in SearchRecent
// does.
type SearchQuery struct {
	Terms  []textsearch.Term // every one must match (textsearch.Parse)
	Rooms  []string
	Owner  string
	Peer   string
	Before string // only messages with id < Before; "" for no bound
	Limit  int    // at most this many, the best ranked
}
