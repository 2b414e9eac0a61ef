package engine

import "context"

// WaitPending blocks until the engine holds at most n unfinished
// operations, or ctx ends: tests wait on it instead of polling Pending.
func (e *Engine) WaitPending(ctx context.Context, n int) error {
	return e.disp.(*memDispatcher).waitPending(ctx, n)
}

// ScaleAmount and TimesQuantity expose the order-splitting arithmetic to
// the table tests.
var (
	ScaleAmount   = scaleAmount
	TimesQuantity = timesQuantity
)
