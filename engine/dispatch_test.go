package engine

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

func dispOp(queue, id uint64) *Operation {
	return &Operation{ID: id, QueueID: queue, Status: StatusPending}
}

// claimNow claims what is runnable now; it fails the test if nothing is.
func claimNow(t *testing.T, d *memDispatcher) *Claim {
	t.Helper()
	got := make(chan *Claim, 1)
	go func() {
		c, ok := d.Claim()
		if !ok {
			c = nil
		}
		got <- c
	}()
	select {
	case c := <-got:
		if c == nil {
			t.Fatal("dispatcher closed")
		}
		return c
	case <-time.After(10 * time.Second):
		d.Close()
		t.Fatal("nothing runnable")
		return nil
	}
}

// runnableNone reports whether no queue head is runnable.
func runnableNone(d *memDispatcher) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.runnable) == 0
}

func TestDispatcherQueueOrder(t *testing.T) {
	d := newMemDispatcher(0)
	for _, op := range []*Operation{dispOp(1, 10), dispOp(1, 11), dispOp(2, 20), dispOp(1, 12)} {
		d.Enqueue(op)
	}
	a, b := claimNow(t, d), claimNow(t, d)
	if a.ID != 10 || b.ID != 20 {
		t.Fatalf("claimed %d and %d, want the heads 10 and 20", a.ID, b.ID)
	}
	if a.Op == nil || a.Op.ID != 10 {
		t.Fatal("an operation enqueued whole is handed over whole")
	}
	if !runnableNone(d) {
		t.Fatal("a second operation of a claimed queue is runnable")
	}
	d.Finish(a)
	if c := claimNow(t, d); c.ID != 11 {
		t.Fatalf("after 10 finished, claimed %d, want 11", c.ID)
	}
	if d.Pending() != 3 {
		t.Fatalf("pending %d, want 3 (11, 12, 20)", d.Pending())
	}
}

func TestDispatcherAdmit(t *testing.T) {
	d := newMemDispatcher(2)
	r1, err := d.Admit()
	if err != nil {
		t.Fatal(err)
	}
	d.Enqueue(dispOp(1, 1))
	r1()
	r2, err := d.Admit()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Admit(); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("third admission: %v, want ErrOverloaded", err)
	}
	r2() // not created
	if _, err := d.Admit(); err != nil {
		t.Fatalf("after an admission ended without an operation: %v", err)
	}
}

// A queue's creation gate admits one holder at a time: whoever waits for
// it passes only after the holder released it (the log shows the order;
// nothing is timed).
func TestDispatcherReserveGatesLock(t *testing.T) {
	d := newMemDispatcher(0)
	var mu sync.Mutex
	var log []string
	note := func(s string) {
		mu.Lock()
		log = append(log, s)
		mu.Unlock()
	}
	release := d.Reserve(7)
	locked := make(chan func())
	go func() {
		unlock := d.LockQueues(7, 3)
		note("locked 7,3")
		locked <- unlock
	}()
	note("released 7")
	release()
	unlock := <-locked
	again := make(chan func())
	go func() {
		u := d.LockQueues(3)
		note("locked 3")
		again <- u
	}()
	note("unlocked 7,3")
	unlock()
	(<-again)()
	want := []string{"released 7", "locked 7,3", "unlocked 7,3", "locked 3"}
	if !slices.Equal(log, want) {
		t.Fatalf("order %q, want %q", log, want)
	}
}

func TestDispatcherCancel(t *testing.T) {
	written := func(behind *bool) func(context.Context, bool) (*Operation, error) {
		return func(_ context.Context, b bool) (*Operation, error) {
			*behind = b
			return &Operation{CancelAsked: true}, nil
		}
	}
	t.Run("behind another ends at once and leaves its queue", func(t *testing.T) {
		d := newMemDispatcher(0)
		d.Enqueue(dispOp(1, 10))
		d.Enqueue(dispOp(1, 11))
		d.Enqueue(dispOp(1, 12))
		head := claimNow(t, d)
		var behind bool
		if _, err := d.Cancel(context.Background(), 1, 11, written(&behind)); err != nil || !behind {
			t.Fatalf("cancel: behind=%v err=%v", behind, err)
		}
		if d.Pending() != 2 {
			t.Fatalf("pending %d, want 2", d.Pending())
		}
		d.Finish(head)
		if c := claimNow(t, d); c.ID != 12 {
			t.Fatalf("claimed %d after the cancel, want 12", c.ID)
		}
	})
	t.Run("behind when written, the head by the time it is durable", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			rest []uint64 // enqueued after the canceled one
		}{{"last of its queue", nil}, {"with one after it", []uint64{12}}} {
			t.Run(tc.name, func(t *testing.T) {
				d := newMemDispatcher(0)
				d.Enqueue(dispOp(1, 10))
				d.Enqueue(dispOp(1, 11))
				for _, id := range tc.rest {
					d.Enqueue(dispOp(1, id))
				}
				head := claimNow(t, d)
				if _, err := d.Cancel(context.Background(), 1, 11, func(_ context.Context, behind bool) (*Operation, error) {
					if !behind {
						t.Error("not behind when written")
					}
					d.Finish(head) // 11 becomes the head while the write runs
					return &Operation{}, nil
				}); err != nil {
					t.Fatal(err)
				}
				d.Enqueue(dispOp(1, 13))
				want := append(append([]uint64(nil), tc.rest...), 13)
				for _, id := range want {
					c := claimNow(t, d)
					if c.ID != id {
						t.Fatalf("claimed %d, want %d (the canceled 11 never runs)", c.ID, id)
					}
					if !runnableNone(d) {
						t.Fatal("a queue is runnable twice")
					}
					d.Finish(c)
				}
				if d.Pending() != 0 {
					t.Fatalf("pending %d after all ran", d.Pending())
				}
			})
		}
	})
	t.Run("an unclaimed head is read again by its run", func(t *testing.T) {
		d := newMemDispatcher(0)
		d.Enqueue(dispOp(1, 10))
		var behind bool
		if _, err := d.Cancel(context.Background(), 1, 10, written(&behind)); err != nil || behind {
			t.Fatalf("cancel: behind=%v err=%v", behind, err)
		}
		if c := claimNow(t, d); c.Op != nil {
			t.Fatal("the run got the copy from before the cancel")
		}
	})
	t.Run("canceled before it is enqueued", func(t *testing.T) {
		d := newMemDispatcher(0)
		var behind bool
		if _, err := d.Cancel(context.Background(), 1, 10, written(&behind)); err != nil {
			t.Fatal(err)
		}
		d.Enqueue(dispOp(1, 10))
		if c := claimNow(t, d); c.ID != 10 || c.Op != nil {
			t.Fatalf("claimed %d with a copy: %v", c.ID, c.Op != nil)
		}
	})
	t.Run("a claimed operation's run answers", func(t *testing.T) {
		d := newMemDispatcher(0)
		d.Enqueue(dispOp(1, 10))
		c := claimNow(t, d)
		go func() {
			req := <-c.Cancels()
			req.Reply <- CancelReply{Op: &Operation{ID: 10, CancelAsked: true}}
		}()
		got, err := d.Cancel(context.Background(), 1, 10, func(context.Context, bool) (*Operation, error) {
			t.Error("written directly while a run holds it")
			return nil, nil
		})
		if err != nil || got == nil || !got.CancelAsked {
			t.Fatalf("cancel: %v, %v", got, err)
		}
	})
	t.Run("a run's error reaches the canceller as it is", func(t *testing.T) {
		d := newMemDispatcher(0)
		d.Enqueue(dispOp(1, 10))
		c := claimNow(t, d)
		reused := &Error{Kind: KindInvalid, Message: "Idempotency-Key reused with another request"}
		go func() {
			req := <-c.Cancels()
			req.Reply <- CancelReply{Err: reused}
		}()
		_, err := d.Cancel(context.Background(), 1, 10, func(context.Context, bool) (*Operation, error) {
			t.Error("written directly while a run holds it")
			return nil, nil
		})
		if err != reused {
			t.Fatalf("cancel error %v, want the run's %v (it was a storage failure, a 500)", err, reused)
		}
	})
	t.Run("a run that ends before it takes the request", func(t *testing.T) {
		d := newMemDispatcher(0)
		d.Enqueue(dispOp(1, 10))
		c := claimNow(t, d)
		conflict := Conflict("operation 10 is already completed")
		done := make(chan error, 1)
		go func() {
			_, err := d.Cancel(context.Background(), 1, 10, func(context.Context, bool) (*Operation, error) { return nil, conflict })
			done <- err
		}()
		d.Finish(c) // the release is the signal: Cancel looks again
		if err := <-done; !errors.Is(err, conflict) {
			t.Fatalf("cancel after the run ended: %v, want the write's conflict", err)
		}
	})
}

func TestDispatcherDefer(t *testing.T) {
	d := newMemDispatcher(0)
	d.Enqueue(dispOp(1, 10))
	d.Enqueue(dispOp(1, 11))
	c := claimNow(t, d)
	d.Defer(c, 0)
	again := claimNow(t, d)
	if again.ID != 10 || again.Tries != 1 || again.Op != nil {
		t.Fatalf("deferred head claimed again as %d (tries %d, whole %v), want 10, 1, false", again.ID, again.Tries, again.Op != nil)
	}
	d.Finish(again)
	if c := claimNow(t, d); c.ID != 11 || c.Tries != 0 {
		t.Fatalf("next claimed %d with tries %d", c.ID, c.Tries)
	}
}

func TestDispatcherClose(t *testing.T) {
	d := newMemDispatcher(0)
	done := make(chan bool)
	go func() {
		_, ok := d.Claim()
		done <- ok
	}()
	d.Close()
	if <-done {
		t.Fatal("Claim after Close")
	}
}
