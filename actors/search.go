package actors

import (
	"context"
	"slices"
	"strconv"

	"parley/internal/protocol"
	"parley/internal/textsearch"
)

// Search: the messages that hold some words, best ranked first, with a
// snippet of each (docs/protocol.md, "Search").
//
// What one may search is what one may read: the rooms this connection is
// in (all of them, or the one asked for), or, for an account, one of its
// own conversations (with); a guest's private messages are not kept, so a
// guest has no conversation to search. The words never reach the store
// as syntax (textsearch.Parse), so no query is an error of the engine's:
// what cannot be searched for (no word, too long, too many words) is a
// bad_request that says why.
//
// A search is heavy (cost.go): refused while the connection's queue could
// not take a full page, and charged one more token per ReplyUnit it sends.

// Limits of a Search's page.
const (
	searchPage = 20 // results when the request asks for none
	searchMax  = 50 // the most a request gets, whatever it asks
)

func (s *Session) search(conn context.Context, req protocol.Request) {
	if req.Room != "" && req.With != "" {
		s.fail(req.Ref, protocol.CodeBadRequest, "Search takes a room or with, not both")
		return
	}
	terms, err := textsearch.Parse(req.Query)
	if err != nil {
		s.fail(req.Ref, protocol.CodeBadRequest, "cannot search: "+err.Error())
		return
	}
	if req.Before != "" && !validID(req.Before) {
		s.fail(req.Ref, protocol.CodeBadRequest, "before is not a message id")
		return
	}
	limit := req.Limit
	if limit <= 0 {
		limit = searchPage
	}
	q := SearchQuery{Terms: terms, Before: req.Before, Limit: min(limit, searchMax)}
	switch {
	case req.With != "":
		if !s.accountsOnly(req.Ref) {
			return
		}
		with, _, ok := NormalizeUsername(req.With, s.hub.cfg.Limits.UsernameMax)
		if !ok {
			s.fail(req.Ref, protocol.CodeInvalidUsername, "a username is 1-"+strconv.Itoa(s.hub.cfg.Limits.UsernameMax)+" characters of A-Z a-z 0-9 _ -")
			return
		}
		q.Owner, q.Peer = s.key, Skeleton(with)
	case req.Room != "":
		name, ok := NormalizeRoom(req.Room, s.hub.cfg.Limits.RoomMax)
		if !ok {
			s.fail(req.Ref, protocol.CodeInvalidRoom, s.roomRule())
			return
		}
		if _, in := s.rooms[name]; !in {
			s.fail(req.Ref, protocol.CodeNotInRoom, "join room "+name+" to search it")
			return
		}
		q.Rooms = []string{name}
	default:
		q.Rooms = make([]string, 0, len(s.rooms))
		for name := range s.rooms {
			q.Rooms = append(q.Rooms, name)
		}
		slices.Sort(q.Rooms)
	}
	ctx, cancel := s.deadline(conn)
	defer cancel()
	var (
		msgs []StoredMessage
		more bool
	)
	if q.Peer != "" || len(q.Rooms) > 0 {
		// What was sent before the search is found by it.
		if err = s.hub.store.Sync(ctx); err == nil {
			msgs, more, err = s.hub.store.Search(ctx, q)
		}
	}
	if err != nil {
		s.hub.log.Warn("search", "err", waitErr(ctx, err))
		s.fail(req.Ref, protocol.CodeServerBusy, "could not search, try again")
		return
	}
	results := make([]protocol.SearchResult, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		snippet, ranges := textsearch.Snippet(m.Content, terms)
		r := protocol.SearchResult{ID: m.ID, Room: m.Room, Username: m.Username, Timestamp: m.Timestamp, Snippet: snippet}
		if m.Kept {
			r.Room, r.With = "", s.otherSide(m)
		}
		if len(ranges) > 0 {
			r.Highlights = make([][2]int, len(ranges))
			for j, h := range ranges {
				r.Highlights[j] = [2]int{h.Start, h.End}
			}
		}
		results[i] = r
	}
	s.reply(protocol.EncodeSearchResults(req.Ref, req.Query, results, more))
}
