package shopify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"eventops/engine"
	"eventops/engine/shopify"
	"eventops/engine/shopify/sandbox"
	"eventops/storage"
	"eventops/storage/pgtest"
	"eventops/storage/storetest"
)

// fastRetry keeps phase retries quick in tests; the Shopify work is told
// the same policy (it decides INVENTORY_RECONCILE_RAISED on the last
// attempt).
var fastRetry = engine.RetryPolicy{Base: 5 * time.Millisecond, Max: 20 * time.Millisecond, Attempts: 4}

// fastClient keeps the client's own retries short, so that a burst of
// faults reaches the engine's phase retry (attempts, last_error).
var fastClient = shopify.ClientPolicy{Attempts: 2, Base: 2 * time.Millisecond, Max: 10 * time.Millisecond,
	Deadline: 3 * time.Second, Timeout: 3 * time.Second}

type options struct {
	restoreRate float64
	retry       engine.RetryPolicy
	client      shopify.ClientPolicy
	staleRounds int
	// wrap wraps the HTTP transport the Shopify client uses (to block a
	// call, or to rewrite an answer).
	wrap    func(http.RoundTripper) http.RoundTripper
	workers int
	// webhooks is Config.WebhookBaseURL.
	webhooks string
	metrics  shopify.CallMetrics
	// currency is the sandbox shop's currency ("": USD).
	currency string
	// noShopReader leaves engine.Config.Shops unset, as for an engine
	// that does not read shop currencies at connect or start-up.
	noShopReader bool
	// reconcile gives the works a Reconciler (b.rec), bound and started
	// with each engine: its start-up pass runs at every open.
	reconcile bool
	// reconcileEvery is the Reconciler's interval (0: no timer).
	reconcileEvery time.Duration
	// reconcileAhead sets the Reconciler's clock that far ahead, so that
	// the orders just placed are old enough to move its mark.
	reconcileAhead time.Duration
	// tokenTTL is the sandbox's Options.TokenTTL.
	tokenTTL time.Duration
	// tokens is the token source (nil: one per engine).
	tokens *shopify.Tokens
	// noSeats leaves engine.Config.Seats unset: box-office sales do not
	// lower the shop before they commit (as before they did).
	noSeats bool
	// mapDomain maps the sandbox shop's NAME.myshopify.com to the sandbox
	// (Config.DomainMap, as serve --shopify-domain-map does).
	mapDomain bool
	// postgres opens the store on a fresh PostgreSQL database whatever
	// EVENTOPS_TEST_STORE says (skipped without one), so that more nodes
	// can share it (b.node, nodes_test.go).
	postgres bool
	// serve wraps the sandbox's HTTP handler.
	serve func(http.Handler) http.Handler
}

// callCounter counts what the client reports to metrics.
type callCounter struct {
	mu        sync.Mutex
	calls     map[string]int // "operation status"
	cost      float64
	throttled int
}

func (c *callCounter) CallDone(operation, status string, cost float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[operation+" "+status]++
	c.cost += cost
}

func (c *callCounter) Throttled() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.throttled++
}

// bundle is a real engine on a real data file, the Shopify work, and a
// sandbox shop served over HTTP.
type bundle struct {
	t       testing.TB
	dir     string
	opts    options
	db      *storage.DB
	eng     *engine.Engine
	sb      *sandbox.Sandbox
	srv     *httptest.Server
	shop    sandbox.ShopCredentials
	company *engine.Company
	venue   *engine.Venue
	tickets *engine.TicketType
	admin   *shopify.Client
	quiet   *slog.Logger
	inst    string // the data file's installation id
	rec     *shopify.Reconciler
	pgURL   string // options.postgres: the database
}

func quietLogger() *slog.Logger {
	if os.Getenv("SHOPIFY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func setup(t testing.TB, o options) *bundle {
	t.Helper()
	if o.retry.Attempts == 0 {
		o.retry = fastRetry
	}
	if o.client.Attempts == 0 {
		o.client = fastClient
	}
	b := &bundle{t: t, dir: t.TempDir(), opts: o, quiet: quietLogger()}
	sb, err := sandbox.New(sandbox.Options{RestoreRate: o.restoreRate, Control: true, Logger: b.quiet, TokenTTL: o.tokenTTL})
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	b.sb = sb
	h := sb.Handler()
	if o.serve != nil {
		h = o.serve(h)
	}
	b.srv = httptest.NewServer(h)
	t.Cleanup(func() {
		b.srv.CloseClientConnections()
		b.srv.Close()
		sb.Close()
	})
	if b.shop, err = sb.CreateShopWith("acme", sandbox.ShopOptions{Currency: o.currency}); err != nil {
		t.Fatalf("create shop: %v", err)
	}
	t.Cleanup(func() { checkSentCalls(t, sb, b.shop.Name) }) // after b.close: the engine has stopped
	b.open()
	t.Cleanup(b.close)
	ctx := context.Background()
	b.company, err = b.eng.CreateCompany(ctx, "Acme", &engine.ShopInput{Sandbox: true, Domain: b.shop.Name,
		AccessToken: engine.Secret(b.shop.AccessToken), WebhookSecret: engine.Secret(b.shop.WebhookSecret)})
	if err != nil {
		t.Fatalf("company: %v", err)
	}
	if b.venue, err = b.eng.CreateVenue(ctx, b.company.ID, engine.VenueInput{Name: "Blue Room", TimeZone: "America/Chicago"}); err != nil {
		t.Fatalf("venue: %v", err)
	}
	if b.tickets, err = b.eng.CreateTicketType(ctx, b.company.ID, engine.TicketTypeInput{Name: "Admission"}); err != nil {
		t.Fatalf("ticket type: %v", err)
	}
	b.admin, err = shopify.NewClient(shopify.Config{SandboxURL: b.srv.URL, Logger: b.quiet},
		&engine.Shop{Sandbox: true, Domain: b.shop.Name}, engine.Secret(b.shop.AccessToken))
	if err != nil {
		t.Fatalf("admin client: %v", err)
	}
	return b
}

// open opens the data file and starts an engine on it with the Shopify work.
func (b *bundle) open() {
	b.t.Helper()
	var db *storage.DB
	var err error
	if b.opts.postgres {
		if b.pgURL == "" {
			b.pgURL = pgtest.Database(b.t)
		}
		db, err = storage.OpenPostgres(context.Background(), b.pgURL, storage.Options{})
	} else {
		db, err = storetest.Open(b.t, filepath.Join(b.dir, "eventops.db"), storage.Options{})
	}
	if err != nil {
		b.t.Fatalf("open store: %v", err)
	}
	b.db = db
	if err := db.View(func(tx engine.Tx) (err error) { b.inst, err = tx.InstallationID(); return err }); err != nil {
		b.t.Fatalf("installation id: %v", err)
	}
	if b.opts.reconcile {
		b.rec = shopify.NewReconciler(b.opts.reconcileEvery)
		if ahead := b.opts.reconcileAhead; ahead != 0 {
			b.rec.SetClock(func() time.Time { return time.Now().Add(ahead) })
		}
	}
	b.eng = b.engineOn(db, b.opts.tokens, b.rec)
	if b.rec != nil {
		b.rec.Bind(b.eng)
	}
	if err := b.eng.Start(context.Background()); err != nil {
		b.t.Fatalf("start engine: %v", err)
	}
	if b.rec != nil {
		b.rec.Start()
	}
}

// engineOn builds (does not start) an engine on db with the Shopify work
// against the bundle's sandbox, its token source tokens (nil: its own).
func (b *bundle) engineOn(db *storage.DB, tokens *shopify.Tokens, rec *shopify.Reconciler) *engine.Engine {
	b.t.Helper()
	sealer, err := storage.LoadSealer(b.dir)
	if err != nil {
		b.t.Fatalf("sealer: %v", err)
	}
	var hc *http.Client
	if b.opts.wrap != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		hc = &http.Client{Transport: b.opts.wrap(tr)}
	}
	cfg := shopify.Config{
		SandboxURL: b.srv.URL, HTTPClient: hc, Logger: b.quiet, Retry: b.opts.retry,
		Client: b.opts.client, StaleRounds: b.opts.staleRounds, WebhookBaseURL: b.opts.webhooks,
		Metrics: b.opts.metrics, Tokens: tokens, Reconciler: rec,
	}
	if b.opts.mapDomain {
		cfg.DomainMap = func(d string) (string, bool) {
			if d != b.shop.Name+".myshopify.com" {
				return "", false
			}
			return b.srv.URL + "/sandbox/shopify/" + b.shop.Name, true
		}
	}
	works, refund := shopify.Works(cfg)
	var shops engine.ShopReader
	if !b.opts.noShopReader {
		shops = shopify.ShopReader(cfg)
	}
	var seats engine.ShopSeats
	if !b.opts.noSeats {
		seats = shopify.Seats(cfg)
	}
	ecfg := engine.Config{Store: db, Locks: db, Sealer: sealer, Work: works, Refund: refund,
		Retry: b.opts.retry, Logger: b.quiet, Workers: b.opts.workers, Shops: shops, Seats: seats}
	if db.Postgres() {
		ecfg.SharedStore, ecfg.Leases = true, db // a node, as serve runs it on PostgreSQL
	}
	return engine.New(ecfg)
}

// close stops the engine softly and closes the data file after a
// consistency check.
func (b *bundle) close() {
	if b.eng == nil {
		return
	}
	if b.rec != nil {
		b.rec.Stop()
	}
	b.eng.Stop(5 * time.Second)
	if err := b.db.Check(); err != nil {
		b.t.Errorf("data file check: %v", err)
	}
	if err := b.db.Close(); err != nil {
		b.t.Errorf("close store: %v", err)
	}
	b.eng, b.db = nil, nil
}

type regType struct {
	name     string
	cents    int64
	quantity *int
}

func ptr[T any](v T) *T { return &v }

func (b *bundle) input(name string, capacity *int, types ...regType) engine.EventInput {
	typ := engine.EventDate
	start := time.Date(2026, 12, 5, 19, 0, 0, 0, time.UTC)
	in := engine.EventInput{Name: &name, Type: &typ, VenueID: &b.venue.ID, StartsAt: &start, EndsAt: ptr(start.Add(4 * time.Hour))}
	in.PublishedAt = engine.Nullable[time.Time]{Set: true, Value: ptr(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))}
	in.Capacity = engine.Nullable[int]{Set: true, Value: capacity}
	rts := make([]engine.RegistrationTypeInput, len(types))
	for i, rt := range types {
		amount := rt.cents
		rts[i] = engine.RegistrationTypeInput{Name: rt.name, TicketTypeID: b.tickets.ID,
			Price: engine.MoneyInput{Amount: &amount, Currency: "USD"}, Quantity: rt.quantity}
	}
	in.RegistrationTypes = &rts
	return in
}

func (b *bundle) create(in engine.EventInput) (*engine.Event, *engine.Operation) {
	b.t.Helper()
	ev, op, err := b.eng.CreateEvent(context.Background(), b.company.ID, in)
	if err != nil {
		b.t.Fatalf("create event: %v", err)
	}
	return ev, op
}

func (b *bundle) update(id uint64, in engine.EventInput) (*engine.Event, *engine.Operation) {
	b.t.Helper()
	ev, op, err := b.eng.UpdateEvent(context.Background(), b.company.ID, id, in)
	if err != nil {
		b.t.Fatalf("update event: %v", err)
	}
	return ev, op
}

// wait waits for an operation to be terminal.
func (b *bundle) wait(id uint64) *engine.Operation {
	b.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var version uint64
	for time.Now().Before(deadline) {
		op, err := b.eng.Wait(context.Background(), b.company.ID, id, version, time.Second)
		if err != nil {
			b.t.Fatalf("wait for operation %d: %v", id, err)
		}
		if op.Status.Terminal() {
			return op
		}
		version = op.Version
	}
	op, _ := b.eng.Operation(b.company.ID, id)
	b.t.Fatalf("operation %d still %s after 60 s: %s", id, op.Status, opJSON(op))
	return nil
}

func (b *bundle) completed(id uint64) *engine.Operation {
	b.t.Helper()
	op := b.wait(id)
	if op.Status != engine.StatusCompleted {
		b.t.Fatalf("operation %d %s: %s", id, op.Status, opJSON(op))
	}
	return op
}

func opJSON(op *engine.Operation) string {
	raw, _ := json.MarshalIndent(op, "", "  ")
	return string(raw)
}

func (b *bundle) structure(eventID uint64) *engine.TicketStructure {
	b.t.Helper()
	s, err := b.eng.TicketStructure(b.company.ID, eventID)
	if err != nil || s == nil {
		b.t.Fatalf("ticket structure of %d: %v, %v", eventID, s, err)
	}
	return s
}

func (b *bundle) children(parent uint64) []*engine.Event {
	b.t.Helper()
	evs, _, err := b.eng.Events(engine.EventQuery{CompanyID: b.company.ID, ParentID: &parent, Sort: engine.SortStartsAt, Limit: 100})
	if err != nil {
		b.t.Fatalf("occurrences: %v", err)
	}
	return evs
}

// gql asks the shop directly (as a merchant's admin would see it).
func (b *bundle) gql(query string, vars map[string]any, out any) {
	b.t.Helper()
	if err := b.admin.Do(context.Background(), shopify.Call{Name: "Test", Query: query, Variables: vars, Resendable: true}, out); err != nil {
		b.t.Fatalf("query the shop: %v", err)
	}
}

// shopProduct is a product as the tests read it from the shop.
type shopProduct struct {
	ID       string   `json:"id"`
	Handle   string   `json:"handle"`
	Title    string   `json:"title"`
	Status   string   `json:"status"`
	Tags     []string `json:"tags"`
	Variants struct {
		Nodes []shopVariant `json:"nodes"`
	} `json:"variants"`
	Metafields struct {
		Nodes []struct {
			Key   string `json:"key"`
			Type  string `json:"type"`
			Value string `json:"value"`
		} `json:"nodes"`
	} `json:"metafields"`
	Published bool `json:"publishedOnPublication"`
}

type shopVariant struct {
	ID              string `json:"id"`
	Title           string `json:"title"`
	SKU             string `json:"sku"`
	Price           string `json:"price"`
	InventoryPolicy string `json:"inventoryPolicy"`
	InventoryItem   struct {
		ID               string `json:"id"`
		Tracked          bool   `json:"tracked"`
		RequiresShipping bool   `json:"requiresShipping"`
		Levels           struct {
			Nodes []struct {
				Location struct {
					ID string `json:"id"`
				} `json:"location"`
				Quantities []struct {
					Name     string `json:"name"`
					Quantity int    `json:"quantity"`
				} `json:"quantities"`
			} `json:"nodes"`
		} `json:"inventoryLevels"`
	} `json:"inventoryItem"`
}

// available is the variant's available quantity per location id.
func (v shopVariant) available() map[string]int {
	out := map[string]int{}
	for _, l := range v.InventoryItem.Levels.Nodes {
		for _, q := range l.Quantities {
			if q.Name == "available" {
				out[l.Location.ID] = q.Quantity
			}
		}
	}
	return out
}

const qTestProductList = `query TestProducts { products(first: 100) { nodes { id } } }`

const qTestProduct = `query TestProduct($id: ID!, $pub: ID!) {
  product(id: $id) {
    id handle title status tags
    publishedOnPublication(publicationId: $pub)
    metafields(first: 20, namespace: "$app:events") { nodes { key type value } }
    variants(first: 10) {
      nodes {
        id title sku price inventoryPolicy
        inventoryItem {
          id tracked requiresShipping
          inventoryLevels(first: 3) { nodes { location { id } quantities(names: ["available"]) { name quantity } } }
        }
      }
    }
  }
}`

// products reads every product of the shop.
func (b *bundle) products() []shopProduct {
	b.t.Helper()
	var list struct {
		Products struct {
			Nodes []struct {
				ID string `json:"id"`
			} `json:"nodes"`
		} `json:"products"`
	}
	b.gql(qTestProductList, nil, &list)
	pub := b.publicationID()
	out := []shopProduct{}
	for _, n := range list.Products.Nodes {
		var one struct {
			Product *shopProduct `json:"product"`
		}
		b.gql(qTestProduct, map[string]any{"id": n.ID, "pub": pub}, &one)
		if one.Product != nil {
			out = append(out, *one.Product)
		}
	}
	return out
}

// handleOf is the handle eventops gives the product of an event, or with a
// registration type the split product of that type.
func (b *bundle) handleOf(eventID uint64, regType ...uint64) string {
	var rt uint64
	if len(regType) > 0 {
		rt = regType[0]
	}
	return engine.ProductHandle(b.inst, eventID, rt)
}

func (b *bundle) productByHandle(handle string) *shopProduct {
	for _, p := range b.products() {
		if p.Handle == handle {
			return &p
		}
	}
	return nil
}

func (b *bundle) publicationID() string {
	b.t.Helper()
	var out struct {
		Publications struct {
			Nodes []struct {
				ID      string `json:"id"`
				Catalog struct {
					Title string `json:"title"`
				} `json:"catalog"`
			} `json:"nodes"`
		} `json:"publications"`
	}
	b.gql(`query { publications(first: 10) { nodes { id catalog { title } } } }`, nil, &out)
	for _, n := range out.Publications.Nodes {
		if n.Catalog.Title == "Online Store" {
			return n.ID
		}
	}
	b.t.Fatalf("the shop has no online store publication")
	return ""
}

// setupOf is the company's remembered shop set-up.
func (b *bundle) setupOf() *engine.ShopSetup {
	b.t.Helper()
	c, err := b.eng.Company(b.company.ID)
	if err != nil || c.Shop == nil {
		b.t.Fatalf("company: %v", err)
	}
	return c.Shop.Setup
}

// control calls a sandbox control route.
func (b *bundle) control(method, path string, body any) []byte {
	b.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, b.srv.URL+"/sandbox/shopify/"+b.shop.Name+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		b.t.Fatalf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, raw)
	}
	return raw
}

type fault struct {
	Operation string `json:"operation"`
	Fault     string `json:"fault"`
	Times     int    `json:"times"`
	Units     int    `json:"units,omitempty"`
}

func (b *bundle) faults(rules ...fault) {
	b.control(http.MethodPost, "/faults", map[string]any{"rules": rules})
}

// state is the sandbox's dump of the shop, without timestamps (which any
// write refreshes) so that two dumps compare by content.
func (b *bundle) state() string {
	b.t.Helper()
	var v any
	if err := json.Unmarshal(b.control(http.MethodGet, "/state", nil), &v); err != nil {
		b.t.Fatalf("state: %v", err)
	}
	raw, _ := json.MarshalIndent(stripTimes(v), "", " ")
	return string(raw)
}

func stripTimes(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			lk := strings.ToLower(k)
			if strings.HasSuffix(lk, "_at") || strings.HasSuffix(lk, "at\"") || strings.HasSuffix(k, "At") {
				delete(x, k)
				continue
			}
			x[k] = stripTimes(val)
		}
	case []any:
		for i := range x {
			x[i] = stripTimes(x[i])
		}
	}
	return v
}

// calls is the sandbox's call log, oldest first.
func (b *bundle) calls() []sandbox.Call {
	b.t.Helper()
	cs, err := b.sb.Calls(b.shop.Name, "")
	if err != nil {
		b.t.Fatalf("call log: %v", err)
	}
	return cs
}

// countCalls counts the calls whose root field is field (e.g. productSet).
func countCalls(cs []sandbox.Call, field string) int {
	n := 0
	for _, c := range cs {
		if c.Has(field) {
			n++
		}
	}
	return n
}

// phase finds a top-level phase by name.
func phase(op *engine.Operation, name string) *engine.Phase {
	for _, p := range op.Phases {
		if p.Name == name {
			return p
		}
	}
	return nil
}

func mustf(t testing.TB, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Fatalf(format, args...)
	}
}

// until waits for cond to hold, checking it on a ticker, and fails the
// test with what() when it still does not after within. It is for states
// with no change notification to wait on: the sandbox's deliveries and
// inventory, a company's record (an operation's end has one: wait uses
// engine.Wait).
func until(t testing.TB, within time.Duration, cond func() bool, what func() string) {
	t.Helper()
	if cond() {
		return
	}
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	timeout := time.NewTimer(within)
	defer timeout.Stop()
	for {
		select {
		case <-tick.C:
			if cond() {
				return
			}
		case <-timeout.C:
			if cond() {
				return
			}
			t.Fatalf("after %v: %s", within, what())
		}
	}
}
