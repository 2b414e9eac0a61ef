package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"eventops/engine"
)

// stoppedAfterWrite is the data file of a server that stops once a write
// has committed: any later commit that writes over an idempotency record
// already stored (to add the answer in a commit of its own) never happens.
type stoppedAfterWrite struct{ engine.Store }

func (s stoppedAfterWrite) Update(ctx context.Context, fn func(engine.Tx) error) error {
	return s.Store.Update(ctx, func(tx engine.Tx) error { return fn(stoppedTx{tx}) })
}

type stoppedTx struct{ engine.Tx }

func (tx stoppedTx) PutIdempotency(r *engine.IdempotencyRecord) error {
	old, err := tx.Idempotency(r.Scope, r.Key)
	if err != nil {
		return err
	}
	if old != nil {
		return errors.New("the server stopped before this commit")
	}
	return tx.Tx.PutIdempotency(r)
}

// TestIdempotentReplayAfterLostAnswer: when the server stops right after a
// keyed write commits, a replay of that key later still answers the first
// response byte for byte (status, body, operation header, Location), not
// the resource as it reads once it has changed (DESIGN §3).
func TestIdempotentReplayAfterLostAnswer(t *testing.T) {
	t.Parallel()
	g := newGate(engine.TicketsWork{})
	f := setup(t, withWork(engine.PhaseTickets, g),
		withStore(func(s engine.Store) engine.Store { return stoppedAfterWrite{s} }))
	t.Cleanup(g.open)
	ev := f.event(f.keyA)
	waitStarted(t, g) // the event's first save holds until g opens
	evPath := fmt.Sprintf("/api/v2/events/%d", ev.EventID)
	rt := ev.Event.RegistrationTypes[0].ID
	v, tt := f.venue(f.keyA), f.ticketType(f.keyA)

	type write struct {
		method, path, body string
		status             int
	}
	cases := []struct {
		name  string
		first write
		// change alters what the first write made or answered, with
		// other keys or none.
		change func(t *testing.T, first *resp)
	}{
		{"create event", write{"POST", "/api/v2/events", eventBody(v, tt), 201},
			func(t *testing.T, first *resp) {
				id := decode[struct{ ID uint64 }](t, first).ID
				f.do("PATCH", fmt.Sprintf("/api/v2/events/%d", id), f.keyA, `{"event": {"name": "Renamed"}}`,
					hdr{"Idempotency-Key", "create-then-rename"}).expect(t, 200)
			}},
		{"update event", write{"PATCH", evPath, `{"event": {"name": "First"}}`, 200},
			func(t *testing.T, _ *resp) {
				f.do("PATCH", evPath, f.keyA, `{"event": {"name": "Second"}}`,
					hdr{"Idempotency-Key", "rename-again"}).expect(t, 200)
			}},
		{"cancel", write{"POST", opPath(ev.EventID, ev.OpID) + "/cancel", "", 202},
			func(t *testing.T, _ *resp) {
				g.open()
				f.waitTerminal(ev.EventID, ev.OpID)
			}},
		{"order", write{"POST", evPath + "/orders", fmt.Sprintf(`{"order": {"registration_type_id": %d, "quantity": 1}}`, rt), 201},
			func(t *testing.T, _ *resp) {
				r := f.do("POST", evPath+"/refund", f.keyA, nil, hdr{"Idempotency-Key", "refund-all"}).expect(t, 202)
				f.waitTerminal(ev.EventID, opHeader(t, r))
			}},
		{"delete", write{"DELETE", evPath, "", 202},
			func(t *testing.T, first *resp) { f.waitTerminal(ev.EventID, opHeader(t, first)) }},
	}
	for _, tc := range cases {
		key := hdr{"Idempotency-Key", "lost-" + tc.name}
		var body any
		if tc.first.body != "" {
			body = tc.first.body
		}
		first := f.do(tc.first.method, tc.first.path, f.keyA, body, key).expect(t, tc.first.status)
		tc.change(t, first)
		again := f.do(tc.first.method, tc.first.path, f.keyA, body, key)
		if again.Status != first.Status || !bytes.Equal(again.Body, first.Body) {
			t.Errorf("%s: replay answered %d\n%s\nnot the first %d\n%s", tc.name, again.Status, again.Body, first.Status, first.Body)
		}
		for _, h := range []string{HeaderOperationID, HeaderSyncJobID, "Location", "Content-Type"} {
			if again.Header.Get(h) != first.Header.Get(h) {
				t.Errorf("%s: replay header %s %q, first %q", tc.name, h, again.Header.Get(h), first.Header.Get(h))
			}
		}
		if again.Header.Get(headerReplayed) != "true" {
			t.Errorf("%s: replay without %s", tc.name, headerReplayed)
		}
	}
}
