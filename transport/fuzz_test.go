package transport_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"unicode/utf8"

	"parley/actors"
	"parley/internal/protocol"
	parley "parley/internal/server"
	"parley/internal/testkit"
	"parley/persistence"
	"parley/transport/outbound"
)

// FuzzDispatch feeds arbitrary frames through the decoder and a real
// session (a real store under it; a guest's or an account's connection, by
// the input's length), as the read loop does. Nothing may
// panic, every frame the session queues must be one valid JSON object, and a
// decoded request must carry exactly the fields of the frame.
func FuzzDispatch(f *testing.F) {
	for _, s := range []string{
		`{"type":"JoinRoom","room":"general","ref":"1"}`,
		`{"type":"SendMessage","content":"hi","ref":"2","nonce":"n"}`,
		`{"type":"PrivateMessage","to":"bob","content":"x"}`,
		`{"type":"History","room":"general","before":"01ARZ3NDEKTSV4RRFFQ69G5FAV","limit":5}`,
		`{"type":"SetUsername","username":"al"}`,
		`{"type":"PrivateMessage","to":"carol","content":"x","ref":"p"}`, `{"type":"PrivateMessage","to":"carol","content":"x","ref":"p"} `,
		`{"type":"History","with":"carol","limit":2}`, `{"type":"History","with":"carol","limit":2} `,
		`{"type":"History","with":"carol","room":"general"}`, `{"type":"Conversations","ref":"c"}`, `{"type":"Conversations","ref":"c"} `,
		`{"type":"ListRooms","Type":"x","TYPE":"y"}`,
		`{"type":1}`, `{"limit":"x"}`, `{"limit":1e3}`, `[]`, `{}`, `null`, `{"a":{"b":[1,2,{}]}}`,
		`{"type":"LeaveRoom","room":"general"} {}`, `{"type":"JoinRoom","room":"general","since":"zz"}`,
	} {
		f.Add([]byte(s))
	}
	// No goroutine left behind: every room actor and the store's writer
	// are gone once the server is shut down.
	testkit.CheckGoroutines(f, 2)
	srv := testkit.NewServer(f, parley.Config{
		// Not to f.Logf: an F's log may not be written while its fuzz
		// function runs, and the server logs from its own goroutines.
		Logger: slog.Default(),
		Store:  persistence.Options{Synchronous: "OFF"},
		Hub: actors.Config{
			Limits: actors.Limits{RatePerSec: 1e9, RateBurst: 1 << 20, MaxRooms: 1 << 30},
			Names:  &mapRegistry{names: map[string]bool{actors.Skeleton("carol"): true}},
		},
	})
	hub, ctx := srv.Hub(), context.Background()
	f.Fuzz(func(t *testing.T, frame []byte) {
		if !utf8.Valid(frame) {
			return // the read loop closes with 1007 before decoding
		}
		req, err := protocol.Decode(frame)
		if err == nil {
			// What the decoder read must be what encoding/json reads from the
			// exact field names, when the frame has no case-variant duplicates.
			var exact map[string]json.RawMessage
			if json.Unmarshal(frame, &exact) == nil {
				if raw, ok := exact["type"]; ok && string(raw) != "null" {
					var typ string
					if json.Unmarshal(raw, &typ) == nil && typ != req.Type {
						t.Fatalf("type: got %q, want %q", req.Type, typ)
					}
				}
			}
		}
		q := outbound.New(hub.OutboxLimits()) // drained below, not by a writer
		var s *actors.Session
		if len(frame)%2 == 0 {
			s = hub.Connect("fuzz", q)
		} else {
			s = hub.ConnectAccount("fuzz", q, "fuzzer", false) // half the inputs, as an account's connection
		}
		if err != nil {
			s.HandleMalformed(req.Ref, err.Error())
		} else {
			s.Handle(ctx, req)
		}
		s.Close()
		for _, b := range q.Take(nil) {
			var v map[string]any
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatalf("queued frame %q is not a JSON object: %v", b, err)
			}
			if _, ok := v["type"].(string); !ok {
				t.Fatalf("queued frame %q has no type", b)
			}
		}
	})
}
