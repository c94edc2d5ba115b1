package actors

import (
	"context"
	"strings"
)

// Mentions (docs/protocol.md, "Mentions"): an @name in a room message's
// content that names someone who exists: a person connected now (a guest
// or an account), or an account, connected or not (asked of Config.Names).
// Not only the room's present members: an account that is in the room but
// offline is the one a mention is most for, and it is not a member while
// away. A name that is nobody's is left as text. The message carries the
// names as they are displayed (Message.mentions), in the order written,
// each once, at most MentionsMax, and never the sender's own. The store
// keeps them with the message, and counts, for an account, the unread
// messages of a room that mention it (ReadState.Mentions). A guest has no
// stored unread state: its client counts the mentions it sees live.

// MentionsMax is the most names one message mentions.
const MentionsMax = 10

// mentionTokens returns the distinct (by Skeleton) names written as @name
// in content, in order, at most MentionsMax: an @ at the start or after a
// character that cannot be in a name, then a name's characters.
func mentionTokens(content string, maxLen int) []string {
	if strings.IndexByte(content, '@') < 0 {
		return nil
	}
	var (
		out  []string
		seen map[string]bool
	)
	for i := 0; i < len(content) && len(out) < MentionsMax; i++ {
		if content[i] != '@' || (i > 0 && (nameByte(content[i-1]) || content[i-1] == '@')) {
			continue
		}
		j := i + 1
		for j < len(content) && nameByte(content[j]) {
			j++
		}
		// A trailing - or _ is punctuation more often than a name's ("@bob-").
		k := j
		for k > i+1 && (content[k-1] == '-' || content[k-1] == '_') {
			k--
		}
		name := content[i+1 : k]
		i = j - 1
		if name == "" || len(name) > maxLen {
			continue
		}
		key := Skeleton(name)
		if seen[key] {
			continue
		}
		if seen == nil {
			seen = make(map[string]bool)
		}
		seen[key] = true
		out = append(out, name)
	}
	return out
}

// mentions resolves the @names of content to the people they name, as
// displayed. Names not connected are asked of Config.Names, under one
// deadline for the message; a lookup that fails leaves the rest unnamed.
// Each lookup after the first costs the sender a request's token, after
// the fact (as a large reply does): a message of ten unknown names costs
// what ten messages do.
func (s *Session) mentions(conn context.Context, content string) []string {
	tokens := mentionTokens(content, s.hub.cfg.Limits.UsernameMax)
	if len(tokens) == 0 {
		return nil
	}
	var (
		out    []string
		ctx    context.Context
		cancel context.CancelFunc
	)
	lookups := 0
	defer func() {
		if cancel != nil {
			cancel()
		}
		if lookups > 1 {
			now := s.hub.cfg.Clock.Now()
			debt(s.bucket, now, lookups-1)
			if s.clientBudget != nil {
				debt(s.clientBudget.requests, now, lookups-1)
			}
		}
	}()
	for _, tok := range tokens {
		key := Skeleton(tok)
		if key == s.key {
			continue // oneself
		}
		if o, ok := s.hub.names.Load(key); ok {
			out = append(out, o.name)
			continue
		}
		if s.hub.cfg.Names == nil {
			continue
		}
		if ctx == nil {
			ctx, cancel = s.deadline(conn)
		}
		if ctx.Err() != nil {
			break
		}
		lookups++
		name, ok, err := s.hub.cfg.Names.AccountName(ctx, key)
		if err != nil {
			s.hub.log.Warn("look up a mention", "err", waitErr(ctx, err))
			break
		}
		if ok {
			out = append(out, name)
		}
	}
	return out
}
