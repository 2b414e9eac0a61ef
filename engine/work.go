package engine

import (
	"context"
	"log/slog"
	"time"
)

// Work is what a leaf phase does. Run must be idempotent: after a crash it
// runs again from the start, so it upserts, sets absolute values and derives
// idempotency keys from the operation, phase and batch. Writes to our own
// store that complete the phase are Staged, so they commit atomically with
// the phase's completion. Run returns an *Error with a Code for a failure the
// client should see (Transient ones are retried with backoff).
type Work interface {
	Run(ctx context.Context, r *PhaseRun) error
}

// Expander is implemented by work that splits a phase into children when it
// first starts: one child per occurrence of a recurring event, or per
// product. Each child (Name and Subject set, no id) then runs the work's Run
// with r.Phase being the child. Returning no children runs the phase itself.
type Expander interface {
	Expand(ctx context.Context, r *PhaseRun) ([]*Phase, error)
}

// Local is implemented by work whose only effects are its staged writes,
// such as the engine's own recurrence and tickets phases. The engine does
// not write the start of such a phase on its own right away, only with its
// completion, or once it has run for a while (see deferWindow): a crash
// before that leaves the phase pending, and it runs again from the start
// (as from running).
type Local interface{ LocalOnly() }

// RefundWork does a refund operation (a leaf without phases).
type RefundWork interface {
	Refund(ctx context.Context, r *PhaseRun) error
}

// PhaseRun is one attempt of a phase's work.
type PhaseRun struct {
	// Op and Phase are snapshots taken when the attempt started; read only.
	// Phase is nil for a refund.
	Op      *Operation
	Phase   *Phase
	Attempt int
	Log     *slog.Logger

	engine *Engine
	events chan<- phaseEvent
	staged []func(Tx) error
	prog   *Progress
}

// Company loads the operation's company as it is now.
func (r *PhaseRun) Company() (*Company, error) {
	var c *Company
	err := r.View(func(tx Tx) error {
		var err error
		c, err = tx.Company(r.Op.CompanyID)
		return err
	})
	if err == nil && c == nil {
		err = NotFound("company %d not found", r.Op.CompanyID)
	}
	return c, err
}

// ShopCredentials opens the company's sealed shop token and webhook secret.
func (r *PhaseRun) ShopCredentials(s *Shop) (token, webhookSecret Secret, err error) {
	return r.engine.OpenShopCredentials(s)
}

// ShopSecrets opens every credential of a shop connection.
func (r *PhaseRun) ShopSecrets(s *Shop) (ShopSecrets, error) { return r.engine.OpenShopSecrets(s) }

// RememberShopSetup writes what the shop set-up made on the company (see
// Engine.RememberShopSetup).
func (r *PhaseRun) RememberShopSetup(ctx context.Context, companyID uint64, domain string, su *ShopSetup) error {
	return r.engine.RememberShopSetup(ctx, companyID, domain, su)
}

// NoteShopTokenRefused records a refused token request (see
// Engine.NoteShopTokenRefused).
func (r *PhaseRun) NoteShopTokenRefused(ctx context.Context, companyID uint64, domain, clientID, reason string) error {
	return r.engine.NoteShopTokenRefused(ctx, companyID, domain, clientID, reason)
}

// StoreShopTokens commits a token grant (see Engine.StoreShopTokens).
func (r *PhaseRun) StoreShopTokens(ctx context.Context, companyID uint64, domain, clientID string, t ShopTokens) (bool, error) {
	return r.engine.StoreShopTokens(ctx, companyID, domain, clientID, t)
}

// Now is the engine's clock.
func (r *PhaseRun) Now() time.Time { return r.engine.now() }

// View reads the store.
func (r *PhaseRun) View(fn func(tx Tx) error) error { return r.engine.store.View(fn) }

// ViewOne is View for a function whose reads all ride with its first (it
// reads ahead the rest): on PostgreSQL one statement, without a transaction
// around it. fn may run twice (see Engine.viewOne), so it must only read
// and set its results afresh.
func (r *PhaseRun) ViewOne(fn func(tx Tx) error) error { return r.engine.viewOne(fn) }

// Update writes to the store now, outside the phase's completion. Work uses
// it for progress it must not lose, such as a refund done in the shop.
func (r *PhaseRun) Update(ctx context.Context, fn func(tx Tx) error) error {
	return r.engine.store.Update(ctx, fn)
}

// Stage queues fn to commit in the same transaction that completes the phase.
// If fn returns an *Error with a Code, the phase fails with it instead.
func (r *PhaseRun) Stage(fn func(tx Tx) error) { r.staged = append(r.staged, fn) }

// Progress reports units done over units; it is persisted and published
// (coalesced with other transitions). A refund keeps it until it ends.
func (r *PhaseRun) Progress(done, total int) {
	r.prog = newProgress(done, total)
	if r.Phase == nil {
		return
	}
	r.events <- phaseEvent{phaseID: r.Phase.ID, kind: evProgress, progress: r.prog}
}

// SetUnits records a leaf phase's unit count without publishing a
// transition: completion then reports total over total. A short phase (one
// shop call or two) would otherwise spend a commit on the operation's
// critical path just to say "0 of n" a few milliseconds before it is done;
// long phases still call Progress as they go.
func (r *PhaseRun) SetUnits(total int) {
	r.prog = newProgress(0, total)
}
