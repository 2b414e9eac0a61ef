package shopify

import (
	"context"
	"net/http"
	"time"

	"eventops/engine"
)

// NextPassAsked is how many callers wait for the pass that follows the
// one running for the company (single-flight tests).
func (r *Reconciler) NextPassAsked(companyID uint64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if fs := r.flights[companyID]; fs != nil && fs.next != nil {
		return fs.next.asked
	}
	return 0
}

// StartedUp is closed once the start-up pass over every shop is done.
func (r *Reconciler) StartedUp() <-chan struct{} { return r.startedUp }

// SetClock replaces the reconciler's clock (the engine's by default).
func (r *Reconciler) SetClock(now func() time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clock = now
}

// TokenFor is the token source's answer for company c on a shop at base
// (stale: a token the shop just refused), as a phase gets it.
func (t *Tokens) TokenFor(ctx context.Context, st TokenStore, base string, c *engine.Company, stale engine.Secret) (engine.Secret, error) {
	return t.token(ctx, st, http.DefaultClient, base, c, stale)
}
