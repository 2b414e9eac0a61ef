package engine

import (
	"context"
	"time"
)

// WaitPending blocks until the engine holds at most n unfinished
// operations, or ctx ends: tests wait on it instead of polling Pending.
func (e *Engine) WaitPending(ctx context.Context, n int) error {
	d, ok := e.disp.(*leaseDispatcher)
	if !ok {
		return e.disp.(*memDispatcher).waitPending(ctx, n)
	}
	for { // the count of a lease dispatcher is the store's
		c, err := d.ls.CountActive(ctx)
		if err != nil {
			return err
		}
		if c <= n {
			d.mu.Lock()
			d.active = c
			d.mu.Unlock()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// DeliveriesInFlight is the number of outbound deliveries being tried.
func (e *Engine) DeliveriesInFlight() int { return len(e.outbox.sending()) }

// ScaleAmount and TimesQuantity expose the order-splitting arithmetic to
// the table tests.
var (
	ScaleAmount   = scaleAmount
	TimesQuantity = timesQuantity
)
