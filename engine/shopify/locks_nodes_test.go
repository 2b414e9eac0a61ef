package shopify_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"eventops/engine"
	"eventops/engine/shopify"
	"eventops/storage"
)

// node is a second eventops node beside a bundle's engine: its own
// storage.DB on the bundle's PostgreSQL database (options.postgres), its
// own engine and token source, the same sandbox and sealing key.
type node struct {
	db     *storage.DB
	eng    *engine.Engine
	tokens *shopify.Tokens
}

// node starts another node on the bundle's database, stopped when the
// test ends.
func (b *bundle) node() *node {
	b.t.Helper()
	if b.pgURL == "" {
		b.t.Fatal("a second node needs options.postgres")
	}
	db, err := storage.OpenPostgres(context.Background(), b.pgURL, storage.Options{})
	if err != nil {
		b.t.Fatal(err)
	}
	nd := &node{db: db, tokens: shopify.NewTokens()}
	nd.eng = b.engineOn(db, nd.tokens, nil)
	if err := nd.eng.Start(context.Background()); err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() {
		nd.eng.Stop(5 * time.Second)
		db.Close()
	})
	return nd
}

// slowTokens holds each token request for d before the sandbox answers
// it, so that nodes asking at once overlap.
func slowTokens(d time.Duration) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/admin/oauth/access_token") {
				time.Sleep(d)
			}
			h.ServeHTTP(w, r)
		})
	}
}

// Two nodes whose phases find the shop refusing the token at the same
// moment get one new token between them: one node's refresh holds the
// company's lock across the nodes, the other waits, reads the token the
// first stored, and uses it. One token request reaches the shop.
func TestTokenRefreshOnceAcrossNodes(t *testing.T) {
	t.Parallel()
	tokensA := shopify.NewTokens()
	b := setup(t, options{postgres: true, tokens: tokensA, serve: slowTokens(300 * time.Millisecond)})
	nb := b.node()
	ctx := context.Background()
	if _, err := b.eng.ConnectShop(ctx, b.company.ID, b.ccInput()); err != nil {
		t.Fatal(err)
	}
	ca, err := b.eng.Company(b.company.ID)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := nb.eng.Company(b.company.ID)
	if err != nil {
		t.Fatal(err)
	}
	sec, err := b.eng.OpenShopSecrets(ca.Shop)
	if err != nil || sec.AccessToken == "" {
		t.Fatalf("the connection's token: %v", err)
	}
	stale := sec.AccessToken
	base, err := shopify.BaseURL(ca.Shop, b.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	before := b.grants("client_credentials")

	type answer struct {
		tok engine.Secret
		err error
	}
	got := make(chan answer, 2)
	go func() {
		tok, err := tokensA.TokenFor(ctx, b.eng, base, ca, stale)
		got <- answer{tok, err}
	}()
	go func() {
		tok, err := nb.tokens.TokenFor(ctx, nb.eng, base, cb, stale)
		got <- answer{tok, err}
	}()
	var toks []engine.Secret
	for range 2 {
		ans := <-got
		if ans.err != nil {
			t.Fatalf("a node's refresh: %v", ans.err)
		}
		toks = append(toks, ans.tok)
	}
	if n := b.grants("client_credentials") - before; n != 1 {
		t.Errorf("%d token requests reached the shop for two nodes refreshing at once, want 1", n)
	}
	if toks[0] != toks[1] || toks[0] == stale {
		t.Errorf("the nodes use different or stale tokens (same: %v, stale: %v)", toks[0] == toks[1], toks[0] == stale)
	}
}

// A rebalance on one node that reads the shop's levels between a
// box-office sale's taking its seats in the shop, on another node, and
// that sale's commit counts the sale's seats as sold (its take is stored):
// it leaves the shop offering no more than is left once the sale commits.
// (Kept in memory, the take was invisible to the other node, whose
// rebalance gave the seats back to the shop: [5 5] with 8 left.)
func TestRebalanceOnAnotherNodeCountsABoxOfficeSaleInFlight(t *testing.T) {
	t.Parallel()
	take := &answerDelayer{held: make(chan struct{}), release: make(chan struct{}),
		match: func(body string) bool {
			return strings.Contains(body, "mutation InventorySet") && strings.Contains(body, "gid://eventops/BoxOffice/")
		}}
	read := &delayer{held: make(chan struct{}), release: make(chan struct{}),
		match: func(body string) bool { return strings.Contains(body, "query InventoryLevels") }}
	b := setup(t, options{postgres: true, wrap: func(next http.RoundTripper) http.RoundTripper {
		read.next = next
		take.next = read
		return take
	}})
	nb := b.node()
	ev, op := b.create(b.input("Race", ptr(10), regType{"A", 1000, ptr(10)}, regType{"B", 2000, ptr(10)}))
	b.completed(op.ID)
	if got := b.shopLevels(ev.ID, "A", "B"); got != "[5 5]" {
		t.Fatalf("the shop offers %s, want [5 5]", got)
	}
	read.armed.Store(true)
	take.armed.Store(true)
	rop, err := b.eng.Rebalance(context.Background(), b.company.ID, ev.ID)
	if err != nil || rop == nil {
		t.Fatalf("Rebalance: %v, %v", rop, err)
	}
	select {
	case <-read.held:
	case <-time.After(30 * time.Second):
		t.Fatal("the rebalance never read the levels")
	}
	type result struct {
		op  *engine.Operation
		err error
	}
	sold := make(chan result, 1)
	go func() {
		_, iop, err := nb.eng.CreateOrder(context.Background(), b.company.ID, ev.ID,
			engine.OrderInput{RegistrationTypeID: ev.RegistrationTypes[0].ID, Quantity: 2})
		sold <- result{iop, err}
	}()
	select {
	case <-take.held:
	case <-time.After(30 * time.Second):
		t.Fatal("the box office never took its seats")
	}
	close(read.release) // the rebalance reads the levels the box office left
	b.completed(rop.ID)
	// The sale has not committed: 8 seats will be left once it does.
	if got := b.shopLevels(ev.ID, "A", "B"); got != "[4 4]" {
		t.Errorf("after a rebalance on node A during node B's sale of 2 of 10 the shop offers %s, want [4 4]", got)
	}
	close(take.release)
	res := <-sold
	if res.err != nil {
		t.Fatal(res.err)
	}
	ops, _, err := b.eng.Operations(engine.OperationQuery{CompanyID: b.company.ID, EventID: ev.ID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range ops {
		b.wait(o.ID)
	}
	if got := b.shopLevels(ev.ID, "A", "B"); got != "[4 4]" {
		t.Errorf("once settled the shop offers %s, want [4 4]", got)
	}
	if s := b.structure(ev.ID); len(s.Takes) != 0 {
		t.Errorf("takes left after the sale committed: %+v", s.Takes)
	}
}

// A shop's reconciliation runs on one node at a time: while another node
// holds the shop's lock (its pass under way), a pass asked for here waits,
// and runs once the lock is let go.
func TestReconciliationWaitsForAnotherNodesPass(t *testing.T) {
	t.Parallel()
	b := setup(t, options{postgres: true, reconcile: true})
	nb := b.node()
	ctx := context.Background()
	if _, err := b.rec.Shop(ctx, b.company.ID); err != nil { // the start-up pass is done too
		t.Fatal(err)
	}
	held, err := nb.db.Lock(ctx, fmt.Sprintf("reconcile:%d", b.company.ID))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := b.rec.Shop(ctx, b.company.ID)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("a pass ran (%v) while another node held the shop's reconciliation", err)
	case <-time.After(500 * time.Millisecond):
	}
	held.Unlock()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the pass after the other node's: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no pass 30 s after the other node let the shop go")
	}
}
