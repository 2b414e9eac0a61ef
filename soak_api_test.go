package main

// How the soak talks to the API (web/client: s.writer for writes, s.api
// for reads and waits) and to the sandbox shop's control routes.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"eventops/engine/shopify/sandbox"
	"eventops/web/client"
)

type soakAnswer struct {
	status int
	header http.Header
	body   []byte
	op     uint64 // X-Event-Operation-ID, 0 when none
}

// write sends one write through s.writer with a fresh Idempotency-Key
// (sent again, with the same key and body, until it is answered; it gives
// up only when ctx ends). An answer of 400 or more that the workload
// expects (a sold-out order, a delete refused) comes back as an answer too,
// its body the problem as web/client reads it.
func (s *soak) write(ctx context.Context, method, path string, body any) (*soakAnswer, error) {
	key := fmt.Sprintf("soak-%d-%d", s.cfg.seed, s.keySeq.Add(1))
	a, err := s.writer.Write(ctx, method, path, body, key)
	if e, ok := client.AsError(err); ok {
		return &soakAnswer{status: e.StatusCode, body: []byte(e.Error())}, nil
	}
	if err != nil {
		return nil, err
	}
	if a.Replayed {
		s.replays.Add(1)
	}
	return &soakAnswer{status: a.Status, header: a.Header, body: a.Body, op: a.OperationID}, nil
}

// send makes one request to the sandbox.
func (s *soak) send(ctx context.Context, method, url string, body []byte) (*soakAnswer, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := s.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	return &soakAnswer{status: res.StatusCode, header: res.Header, body: b}, nil
}

// soakMaxAttempts bounds the tries of one read (with the waits between
// them, several minutes: far more than a restart takes).
const soakMaxAttempts = 600

// sandboxGet reads JSON from the sandbox, retrying failures of the moment
// until ctx ends.
func (s *soak) sandboxGet(ctx context.Context, path string, out any) error {
	url := s.sandboxURL + sandbox.Prefix + s.shop.name + path
	for attempt := 1; ; attempt++ {
		if attempt > soakMaxAttempts {
			return fmt.Errorf("GET %s: no answer in %d attempts", url, soakMaxAttempts)
		}
		if attempt > 1 {
			if err := soakSleep(ctx, s.jitter(50*time.Millisecond, 500*time.Millisecond)); err != nil {
				return fmt.Errorf("GET %s: %w", url, err)
			}
		}
		a, err := s.send(ctx, http.MethodGet, url, nil)
		if err != nil || a.status >= 500 || a.status == http.StatusTooManyRequests {
			continue
		}
		if a.status != http.StatusOK {
			return fmt.Errorf("GET %s: %d %s", url, a.status, bytes.TrimSpace(a.body[:min(len(a.body), 300)]))
		}
		return json.Unmarshal(a.body, out)
	}
}

// shopControl calls a control route of the sandbox's shop.
func (s *soak) shopControl(ctx context.Context, method, path string, body any) (*soakAnswer, error) {
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	return s.send(ctx, method, s.sandboxURL+sandbox.Prefix+s.shop.name+path, raw)
}

func soakSleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (s *soak) ack(a *soakAnswer, event uint64, what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[what]++
	if a.op != 0 {
		s.acked[a.op] = soakAck{event: event, what: what}
	}
}

func (s *soak) note(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unexpected = append(s.unexpected, fmt.Sprintf(format, args...))
}

func (s *soak) refusal(kind string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refused[kind]++
}

// waitOp follows an operation until it is terminal, across restarts.
func (s *soak) waitOp(ctx context.Context, event, op uint64) *client.Operation {
	for range soakMaxAttempts {
		if ctx.Err() != nil {
			break
		}
		o, err := s.api.Wait(ctx, event, op, client.Finished, client.Hold(20*time.Second))
		if err == nil {
			return o
		}
		if soakNotFound(err) {
			s.note("operation %d of event %d: 404 while waiting", op, event)
			return nil
		}
		_ = soakSleep(ctx, 200*time.Millisecond)
	}
	return nil
}

// event reads an event, across restarts; nil when it is gone.
func (s *soak) event(ctx context.Context, id uint64) *client.Event {
	for range soakMaxAttempts {
		if ctx.Err() != nil {
			break
		}
		ev, err := s.api.Event(ctx, id)
		if err == nil {
			return ev
		}
		if soakNotFound(err) {
			return nil
		}
		_ = soakSleep(ctx, 200*time.Millisecond)
	}
	return nil
}

func (s *soak) occurrences(ctx context.Context, parent uint64) []client.Event {
	for range soakMaxAttempts {
		if ctx.Err() != nil {
			break
		}
		evs, err := s.api.AllEvents(ctx, client.EventListOptions{ParentEventID: &parent, Sort: "starts_at"})
		if err == nil {
			return evs
		}
		_ = soakSleep(ctx, 200*time.Millisecond)
	}
	return nil
}

// soakNotFound reports whether err is a 404 answer.
func soakNotFound(err error) bool {
	e, ok := client.AsError(err)
	return ok && e.StatusCode == http.StatusNotFound
}

// orders lists an event's orders; s.writer's retries outlast a restart.
func (s *soak) orders(ctx context.Context, event uint64) ([]client.Order, error) {
	return s.writer.AllOrders(ctx, event)
}

func (s *soak) shopState(ctx context.Context) (*sandbox.ShopState, error) {
	var st sandbox.ShopState
	err := s.sandboxGet(ctx, "/state", &st)
	return &st, err
}
