package shopify_test

import (
	"context"
	"encoding/json"

	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"eventops/engine"
	"eventops/engine/shopify"
	"eventops/engine/shopify/sandbox"
	"eventops/storage"
	"eventops/storage/pgtest"
)

// node is one eventops node of a cluster test: its own storage.DB on the
// shared PostgreSQL database, its own engine with the Shopify work, its
// own token source.
type node struct {
	db     *storage.DB
	eng    *engine.Engine
	tokens *shopify.Tokens
}

// cluster is several nodes on one database and one sandbox shop served
// over HTTP.
type cluster struct {
	t     testing.TB
	nodes []*node
	sb    *sandbox.Sandbox
	srv   *httptest.Server
	shop  sandbox.ShopCredentials
}

// setupCluster starts n nodes on a fresh PostgreSQL database (skipped
// without one). wrap, when set, wraps the sandbox's handler.
func setupCluster(t *testing.T, n int, wrap func(http.Handler) http.Handler) *cluster {
	t.Helper()
	url := pgtest.Database(t)
	quiet := quietLogger()
	sb, err := sandbox.New(sandbox.Options{Control: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	h := sb.Handler()
	if wrap != nil {
		h = wrap(h)
	}
	cl := &cluster{t: t, sb: sb, srv: httptest.NewServer(h)}
	t.Cleanup(func() {
		cl.srv.CloseClientConnections()
		cl.srv.Close()
		sb.Close()
	})
	if cl.shop, err = sb.CreateShopWith("acme", sandbox.ShopOptions{}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir() // the sealing key every node reads
	sealer, err := storage.LoadSealer(dir)
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		db, err := storage.OpenPostgres(context.Background(), url, storage.Options{})
		if err != nil {
			t.Fatal(err)
		}
		nd := &node{db: db, tokens: shopify.NewTokens()}
		cfg := shopify.Config{SandboxURL: cl.srv.URL, Logger: quiet, Retry: fastRetry, Client: fastClient, Tokens: nd.tokens}
		works, refund := shopify.Works(cfg)
		nd.eng = engine.New(engine.Config{Store: db, SharedStore: true, Locks: db, Sealer: sealer, Work: works, Refund: refund,
			Retry: fastRetry, Logger: quiet, Shops: shopify.ShopReader(cfg), Seats: shopify.Seats(cfg)})
		if err := nd.eng.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			nd.eng.Stop(5 * time.Second)
			db.Close()
		})
		cl.nodes = append(cl.nodes, nd)
	}
	return cl
}

// credentials reads the shop's app credentials from the sandbox's control
// route.
func (cl *cluster) credentials() sandbox.AppCredentials {
	cl.t.Helper()
	resp, err := http.Get(cl.srv.URL + "/sandbox/shopify/" + cl.shop.Name + "/credentials")
	if err != nil {
		cl.t.Fatal(err)
	}
	defer resp.Body.Close()
	var c sandbox.AppCredentials
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		cl.t.Fatal(err)
	}
	return c
}

// grants is how many token requests of the kind the sandbox answered.
func (cl *cluster) grants(kind string) int {
	cl.t.Helper()
	g, err := cl.sb.TokenGrants(cl.shop.Name)
	if err != nil {
		cl.t.Fatal(err)
	}
	return g[kind]
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
	cl := setupCluster(t, 2, slowTokens(300*time.Millisecond))
	a, b := cl.nodes[0], cl.nodes[1]
	ctx := context.Background()
	c := cl.credentials()
	co, err := a.eng.CreateCompany(ctx, "Acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.eng.ConnectShop(ctx, co.ID, engine.ShopInput{Domain: c.AdminURL, Auth: engine.ShopAuthClientCredentials,
		ClientID: c.ClientID, ClientSecret: engine.Secret(c.ClientSecret)}); err != nil {
		t.Fatal(err)
	}
	ca, err := a.eng.Company(co.ID)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := b.eng.Company(co.ID)
	if err != nil {
		t.Fatal(err)
	}
	sec, err := a.eng.OpenShopSecrets(ca.Shop)
	if err != nil || sec.AccessToken == "" {
		t.Fatalf("the connection's token: %v", err)
	}
	stale := sec.AccessToken
	base, err := shopify.BaseURL(ca.Shop, cl.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	before := cl.grants("client_credentials")

	type answer struct {
		tok engine.Secret
		err error
	}
	got := make(chan answer, 2)
	for i, nd := range []*node{a, b} {
		c := []*engine.Company{ca, cb}[i]
		go func() {
			tok, err := nd.tokens.TokenFor(ctx, nd.eng, base, c, stale)
			got <- answer{tok, err}
		}()
	}
	var toks []engine.Secret
	for range 2 {
		ans := <-got
		if ans.err != nil {
			t.Fatalf("a node's refresh: %v", ans.err)
		}
		toks = append(toks, ans.tok)
	}
	if n := cl.grants("client_credentials") - before; n != 1 {
		t.Errorf("%d token requests reached the shop for two nodes refreshing at once, want 1", n)
	}
	if toks[0] != toks[1] || toks[0] == stale {
		t.Errorf("the nodes use different or stale tokens (same: %v, stale: %v)", toks[0] == toks[1], toks[0] == stale)
	}
}
