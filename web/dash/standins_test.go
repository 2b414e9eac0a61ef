package dash

import (
	"context"

	"eventops/engine"
)

// The stand-in works below hold the Shopify phases where the pictures of
// TestDashboardScreenshots want them: the catalog expanded into one product
// per occurrence, two done and the third retrying after the shop answered
// 503, the later phases waiting on it.

type standIn func(ctx context.Context, r *engine.PhaseRun) error

func (s standIn) Run(ctx context.Context, r *engine.PhaseRun) error { return s(ctx, r) }

// catalogStandIn makes one child per occurrence, as the real catalog does;
// the last occurrence's product fails once with a 503, then holds.
type catalogStandIn struct {
	hold chan struct{}
	held chan struct{}
	last uint64
}

func (c *catalogStandIn) Expand(ctx context.Context, r *engine.PhaseRun) ([]*engine.Phase, error) {
	var kids []*engine.Phase
	err := r.View(func(tx engine.Tx) error {
		occ, err := tx.ChildEvents(r.Op.EventID)
		for _, o := range occ {
			kids = append(kids, &engine.Phase{Name: engine.PhaseCatalog, Subject: o.ID})
			c.last = o.ID
		}
		return err
	})
	return kids, err
}

func (c *catalogStandIn) Run(ctx context.Context, r *engine.PhaseRun) error {
	if r.Phase.Subject != c.last {
		r.Progress(1, 1)
		return nil
	}
	r.Progress(0, 1)
	if r.Attempt == 1 {
		return engine.Transientf(engine.CodeShopifyUnavailable, "the shop answered 503 Service Unavailable")
	}
	c.held <- struct{}{}
	select {
	case <-c.hold:
		r.Progress(1, 1)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
