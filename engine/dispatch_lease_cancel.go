package engine

import (
	"context"
	"errors"
	"slices"
	"time"
)

// Cancel delivers to this node's run of the operation, writes under this
// node's claim of the queue (held, or claimed for the write), or asks the
// node holding the queue and waits until its run recorded the request (or
// the holder died: then the queue is claimed here).
func (d *leaseDispatcher) Cancel(ctx context.Context, queue, id uint64, write func(ctx context.Context, behind bool) (*Operation, error)) (*Operation, error) {
	for {
		d.mu.Lock()
		if w := d.writing[id]; w != nil { // another cancel is writing it
			d.mu.Unlock()
			select {
			case <-w:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if c := d.claims[id]; c != nil {
			d.mu.Unlock()
			op, ok, err := c.Deliver(ctx)
			if ok && !errors.Is(err, ErrFenced) {
				return op, err
			}
			continue // the run ended first, or lost its queue: look again
		}
		if h := d.held[queue]; h != nil {
			behind := h.ID != id // running (or ready) another: id waits behind it
			if !behind {
				// Claimed, not yet taken by a worker: held back while
				// the request is written, then handed out to read it.
				d.ready = slices.DeleteFunc(d.ready, func(c *Claim) bool { return c == h })
			}
			done := d.fence(id)
			d.mu.Unlock()
			op, err := write(WithFence(context.WithoutCancel(ctx), h.fence), behind)
			d.mu.Lock()
			if !behind {
				h.Op = nil
				if d.held[queue] == h && !d.closed && !slices.Contains(d.ready, h) {
					d.ready = append(d.ready, h)
					d.cond.Signal()
				}
			}
			d.mu.Unlock()
			done()
			if errors.Is(err, ErrFenced) {
				continue // the queue moved on: look again
			}
			return d.ended(op, err)
		}
		owner := d.owner
		done := d.fence(id)
		d.mu.Unlock()
		// Claimed and let go whatever the client does meanwhile: a claim
		// left behind would hold the queue until this node dies.
		bg := context.WithoutCancel(ctx)
		qc, ok, err := d.ls.ClaimQueueNow(bg, owner, queue)
		if err != nil {
			done()
			return nil, err
		}
		if ok {
			if qc.Takeover {
				d.takeovers.Add(1)
			}
			op, err := write(WithFence(bg, &qc.Fence), qc.Head != 0 && qc.Head != id)
			d.release(qc.Fence, 0)
			done()
			if errors.Is(err, ErrFenced) {
				continue
			}
			return d.ended(op, err)
		}
		done()
		// Another live node holds the queue: ask it (again at every round:
		// a request it took but could not deliver is gone) and wait until
		// its run records the request, or the holder dies.
		if err := d.ls.AskCancel(ctx, queue, id); err != nil {
			return nil, err
		}
		d.wakeNodes("cancel")
		deadline := time.Now().Add(d.opt.Length)
		for time.Now().Before(deadline) {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
			op, err := d.read(id)
			if err != nil {
				return nil, err
			}
			if op == nil {
				return nil, NotFound("operation %d not found", id)
			}
			if op.CancelAsked || op.Status.Terminal() {
				if d.answered != nil {
					if err := d.answered(context.WithoutCancel(ctx), op); err != nil {
						return nil, err
					}
				}
				return op, nil
			}
		}
	}
}

// fence marks operation id as being written by a cancel (d.mu held): a
// second cancel waits, and no claim of it is made meanwhile (Finish waits).
// The returned function lifts it and drops the copy kept of the operation,
// which the write made stale.
func (d *leaseDispatcher) fence(id uint64) func() {
	w := make(chan struct{})
	d.writing[id] = w
	delete(d.kept, id)
	return func() {
		d.mu.Lock()
		delete(d.writing, id)
		delete(d.kept, id)
		d.mu.Unlock()
		close(w)
	}
}

// ended counts out of --max-pending an operation a cancel ended (until the
// next count).
func (d *leaseDispatcher) ended(op *Operation, err error) (*Operation, error) {
	if err == nil && op != nil && op.Status.Terminal() {
		d.mu.Lock()
		d.active = max(d.active-1, 0)
		d.mu.Unlock()
	}
	return op, err
}
