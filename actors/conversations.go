package actors

import (
	"context"
	"strconv"

	"parley/internal/protocol"
)

// Conversations: the private messages between two accounts, kept by the
// store under both accounts' skeletons (StoredMessage.Kept), so that an
// account reads them from any connection, later. An account can only name
// its own side of a conversation (ConversationQuery.Owner is always the
// session's own skeleton): there is no way to read another's.

// offlineAccount looks up, under the request's deadline, the account whose
// name has the skeleton key, for a private message to it while none of its
// connections is here. The owner it returns has no connections: the
// message is stored, and read later with History.
func (s *Session) offlineAccount(conn context.Context, key string) (nameOwner, bool, error) {
	ctx, cancel := s.deadline(conn)
	defer cancel()
	name, ok, err := s.hub.cfg.Names.AccountName(ctx, key)
	if err != nil {
		s.hub.log.Warn("look up account", "err", waitErr(ctx, err))
		return nameOwner{}, false, err
	}
	if !ok {
		return nameOwner{}, false, nil
	}
	// An account that connected since the names map was read: its live
	// connections miss this one message, which History serves.
	return nameOwner{name: name, account: true}, true, nil
}

// conversationHistory answers History{with}: a page of the conversation
// between this account and the account named req.With, under the same
// rules as a room's history (limit, byte budget, truncated).
func (s *Session) conversationHistory(conn context.Context, req protocol.Request) {
	if req.Room != "" {
		s.fail(req.Ref, protocol.CodeBadRequest, "History takes a room or with, not both")
		return
	}
	if !s.accountsOnly(req.Ref) {
		return
	}
	with, _, ok := NormalizeUsername(req.With, s.hub.cfg.Limits.UsernameMax)
	if !ok {
		s.fail(req.Ref, protocol.CodeInvalidUsername, "a username is 1-"+strconv.Itoa(s.hub.cfg.Limits.UsernameMax)+" characters of A-Z a-z 0-9 _ -")
		return
	}
	if req.Before != "" && !validID(req.Before) {
		s.fail(req.Ref, protocol.CodeBadRequest, "before is not a message id")
		return
	}
	if req.Since != "" && !validID(req.Since) {
		s.fail(req.Ref, protocol.CodeBadRequest, "since is not a message id")
		return
	}
	limit := s.pageLimit(req.Limit)
	ctx, cancel := s.deadline(conn)
	defer cancel()
	var err error
	if req.Before == "" {
		// The newest page holds every message delivered so far.
		err = s.hub.store.Sync(ctx)
	}
	var (
		msgs []StoredMessage
		more bool
	)
	if err == nil {
		msgs, more, err = s.hub.store.Conversation(ctx, ConversationQuery{Owner: s.key, Peer: Skeleton(with), Before: req.Before, Limit: limit, MaxBytes: s.hub.cfg.HistoryBytes})
	}
	if err != nil {
		s.hub.log.Warn("read conversation", "err", waitErr(ctx, err))
		s.fail(req.Ref, protocol.CodeServerBusy, "could not read the conversation with "+with)
		return
	}
	page := make([]protocol.Message, len(msgs))
	for i := range msgs {
		page[i] = msgs[i].wire()
	}
	s.reply(protocol.EncodeConversationHistory(req.Ref, with, page, more))
	if req.Since != "" {
		s.sendConversationChanges(ctx, req.Ref, with, req.Since) // privateedits.go
	}
}

// conversations answers Conversations: the account's conversations, newest
// first, each with its last message; at most limit (default HistoryPage, at
// most HistoryMax) and within the byte budget of a History frame.
func (s *Session) conversations(conn context.Context, req protocol.Request) {
	if !s.accountsOnly(req.Ref) {
		return
	}
	limit := s.pageLimit(req.Limit)
	ctx, cancel := s.deadline(conn)
	defer cancel()
	err := s.hub.store.Sync(ctx)
	var (
		convs []ConversationSummary
		more  bool
	)
	if err == nil {
		convs, more, err = s.hub.store.Conversations(ctx, s.owner(), limit)
	}
	if err != nil {
		s.hub.log.Warn("list conversations", "err", waitErr(ctx, err))
		s.fail(req.Ref, protocol.CodeServerBusy, "could not list your conversations")
		return
	}
	// Newest first: the budget drops the oldest, from the end.
	size := 0
	for i := range convs {
		size += MessageSize(&convs[i].Last)
		if size > s.hub.cfg.HistoryBytes {
			convs, more = convs[:i], true
			break
		}
	}
	wire := make([]protocol.Conversation, len(convs))
	for i := range convs {
		wire[i] = protocol.Conversation{With: s.otherSide(&convs[i].Last), Last: convs[i].Last.wire(), Read: convs[i].Read, Unread: convs[i].Unread}
	}
	s.reply(protocol.EncodeConversations(req.Ref, wire, more))
}

// otherSide is the name of the account a conversation's message m is
// with, from this account's side.
func (s *Session) otherSide(m *StoredMessage) string {
	if Skeleton(m.Username) == s.key {
		return m.Recipient
	}
	return m.Username
}

// owner is the session's account as the store knows it.
func (s *Session) owner() Owner { return Owner{Key: s.key, Name: s.name} }

// MessageSize is what a message counts against a frame's byte budget (a
// store stops a page there: HistoryQuery.MaxBytes).
func MessageSize(m *StoredMessage) int {
	n := 128 + len(m.Content) + len(m.Username) + len(m.Room) + len(m.Recipient) + len(m.Nonce)
	if !m.EditedAt.IsZero() {
		n += 64 // "edited_at" and "deleted"
	}
	return n
}

// accountsOnly refuses a guest what is kept for accounts, and reports
// whether the session may go on.
func (s *Session) accountsOnly(ref string) bool {
	if !s.account {
		s.fail(ref, protocol.CodeNotAllowed, "conversations and read markers are kept for accounts: a guest's private messages are not stored for reading")
	}
	return s.account
}
