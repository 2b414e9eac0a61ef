package shopify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"eventops/engine"
)

// Config wires the Shopify work.
type Config struct {
	// SandboxURL is the base URL under which the sandbox is mounted
	// (e.g. "http://127.0.0.1:8080"); a sandbox shop's API lives at
	// SandboxURL + "/sandbox/shopify/" + Shop.Domain.
	SandboxURL string
	// WebhookBaseURL is eventops' public base URL; shop set-up subscribes
	// WebhookBaseURL + "/webhooks/shopify/{topic}" (e.g. .../orders/create).
	// Empty: no subscriptions are made (and none is remembered as made).
	WebhookBaseURL string
	// HTTPClient calls the shops (default: a client with a pooled
	// transport; timeouts come from Client).
	HTTPClient *http.Client
	Logger     *slog.Logger
	// Retry must be the engine's phase retry policy (engine.Config.Retry;
	// zero means engine.DefaultRetry, as for the engine). The inventory
	// phase uses it to tell its last attempt: a compare-and-set still
	// racing a sale then fails with INVENTORY_RECONCILE_RAISED instead of
	// the transient INVENTORY_STALE.
	Retry engine.RetryPolicy
	// Client bounds the retries inside one call (see ClientPolicy).
	Client ClientPolicy
	// StaleRounds is how many compare-and-set rounds one inventory attempt
	// makes before handing INVENTORY_STALE to the engine (default 3).
	StaleRounds int
	// FulfillmentServiceName names the app's fulfillment service in every
	// shop (default "eventops"); set-up finds it by this name.
	FulfillmentServiceName string
	// Jitter is injected for exact tests (default math/rand).
	Jitter func() float64
	// DomainMap, when set, gives the base URL of a shop domain
	// (NAME.myshopify.com) that is not served at https://NAME.myshopify.com:
	// a sandbox, in development and tests (serve --shopify-domain-map).
	DomainMap func(domain string) (base string, ok bool)
	// Tokens is the token source, shared by every Works and ShopReader of
	// the process (nil: one of their own).
	Tokens *Tokens
	// Metrics is told of every exchange with a shop (nil: nobody; the
	// web package's Metrics.Shopify() is one).
	Metrics CallMetrics
	// Reconciler, when set, reads the shops' orders that webhooks missed
	// (reconcile.go); Works attaches it to the phases' service.
	Reconciler *Reconciler
	// Nodes, when set, is how many nodes share the shops' buckets now
	// (engine.Engine.Nodes): each paces its calls within its share (see
	// bucket).
	Nodes func() int
}

// CallMetrics is told of every exchange with a shop, retries included: the
// GraphQL operation's name (Call.Name), a short outcome ("ok",
// "throttled", "http_429", "http_5xx", "transport", "auth", ...) and the
// query cost the shop charged (0 when it did not say); Throttled for each
// answer that throttled a call.
type CallMetrics interface {
	CallDone(operation, status string, cost float64)
	Throttled()
}

type nopMetrics struct{}

func (nopMetrics) CallDone(string, string, float64) {}
func (nopMetrics) Throttled()                       {}

// UnlimitedQuantity is what the inventory phase sets for a variant without
// any limit (no quantity and no capacity): tracked inventory with DENY stays
// uniform across variants, and a number this large never runs out in
// practice. Shopify refuses quantities from 1,000,000,000 on.
const UnlimitedQuantity = 1_000_000

// Works builds the Shopify phases' work and the refund work of Shopify
// companies (companies without a shop are refunded locally, as
// engine.LocalRefund does). Register them in engine.Config.Work and
// engine.Config.Refund.
func Works(cfg Config) (map[string]engine.Work, engine.RefundWork) {
	s := newService(cfg)
	if cfg.Reconciler != nil {
		cfg.Reconciler.attach(s)
	}
	return map[string]engine.Work{
		engine.PhaseCatalog:    catalogWork{s},
		engine.PhaseInventory:  inventoryWork{s},
		engine.PhaseMetafields: metafieldsWork{s},
		engine.PhaseDelivery:   deliveryWork{s},
		engine.PhasePublish:    publishWork{s},
	}, refundWork{s}
}

// service is what the works share: per-shop pacing buckets and set-up
// locks, and the inventory phase's memory of unexplained sales.
type service struct {
	cfg  Config
	log  *slog.Logger
	http *http.Client

	mu      sync.Mutex
	buckets map[string]*bucket     // by endpoint
	setups  map[uint64]*sync.Mutex // by company
	memory  map[uint64]*invMemory  // by inventory phase id
}

func newService(cfg Config) *service {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Retry.Attempts <= 0 {
		cfg.Retry = engine.DefaultRetry
	}
	cfg.Client = cfg.Client.withDefaults()
	if cfg.StaleRounds <= 0 {
		cfg.StaleRounds = 3
	}
	if cfg.FulfillmentServiceName == "" {
		cfg.FulfillmentServiceName = "eventops"
	}
	if cfg.Jitter == nil {
		cfg.Jitter = rand.Float64
	}
	if cfg.Metrics == nil {
		cfg.Metrics = nopMetrics{}
	}
	if cfg.Tokens == nil {
		cfg.Tokens = NewTokens()
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = NewHTTPClient()
	}
	return &service{
		cfg: cfg, log: cfg.Logger.With("component", "shopify"), http: hc,
		buckets: map[string]*bucket{}, setups: map[uint64]*sync.Mutex{}, memory: map[uint64]*invMemory{},
	}
}

func (s *service) bucket(endpoint string) *bucket {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[endpoint]
	if b == nil {
		b = newBucket(time.Now)
		b.nodes = s.cfg.Nodes
		s.buckets[endpoint] = b
	}
	return b
}

func (s *service) setupLock(companyID uint64) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.setups[companyID]
	if m == nil {
		m = &sync.Mutex{}
		s.setups[companyID] = m
	}
	return m
}

// shopRun is one phase attempt's connection to its company's shop.
type shopRun struct {
	s *service
	r *engine.PhaseRun
	// st reads the company again and remembers the shop set-up: the
	// phase's engine, or the engine itself outside phases (SetUpShop).
	st      setupStore
	company *engine.Company
	client  *Client
	log     *slog.Logger
}

// open loads the company and builds a client of its shop (see connect).
func (s *service) open(r *engine.PhaseRun) (*shopRun, error) {
	c, err := r.Company()
	if err != nil {
		return nil, err
	}
	return s.connect(r, c)
}

// begin is how a phase's attempt starts: it reads the company and the
// targets of the run (see pick) in one read transaction, then connects to
// the shop.
func (s *service) begin(r *engine.PhaseRun) (*shopRun, []*target, error) {
	var c *engine.Company
	var ts []*target
	subject := subjectOf(r)
	err := r.View(func(tx engine.Tx) error {
		var err error
		if c, err = tx.Company(r.Op.CompanyID); err != nil {
			return err
		}
		if c == nil {
			return engine.NotFound("company %d not found", r.Op.CompanyID)
		}
		ts, err = readTargets(tx, r.Op.EventID, subject)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	sr, err := s.connect(r, c)
	if err != nil {
		return nil, nil, err
	}
	return sr, pick(r, ts, subject), nil
}

// connect builds a client of the company's shop. A revoked or missing
// connection fails at once with SHOPIFY_AUTH_REJECTED, without a call.
func (s *service) connect(r *engine.PhaseRun, c *engine.Company) (*shopRun, error) {
	if !c.Shopify() {
		return nil, engine.Errorf(engine.CodeShopifyAuthRejected, "company %d is no longer connected to a shop", c.ID)
	}
	if c.Shop.Revoked {
		return nil, engine.Errorf(engine.CodeShopifyAuthRejected,
			"the shop connection of company %d is revoked (the app was uninstalled): reconnect the shop", c.ID)
	}
	sec, err := r.ShopSecrets(c.Shop)
	if err != nil {
		return nil, err
	}
	if !hasToken(c, sec) {
		return nil, engine.Errorf(engine.CodeShopifyAuthRejected, "company %d has no access token for its shop", c.ID)
	}
	log := r.Log
	if log == nil {
		log = s.log
	}
	log = log.With("shop", c.Shop.Domain)
	cl, err := s.shopClient(c, phaseTokens{r}, log)
	if err != nil {
		return nil, err
	}
	return &shopRun{s: s, r: r, st: phaseTokens{r}, company: c, log: log, client: cl}, nil
}

// shopClient is the one way to build a client of a company's shop, for
// phases and for the work outside them (reconciliation, fulfilment,
// box-office sales): its base URL through the domain map, and its token
// from the token source for the connection's kind (a client-credentials
// or oauth token requested or refreshed ahead of expiry, and once more on
// a 401), read and stored through st.
func (s *service) shopClient(c *engine.Company, st TokenStore, log *slog.Logger) (*Client, error) {
	base, err := s.baseURL(c.Shop)
	if err != nil {
		return nil, engine.Errorf(engine.CodeShopifyUnavailable, "shop of company %d: %v", c.ID, err)
	}
	cl := s.client(Endpoint(base), "", log)
	co := c
	cl.source = func(ctx context.Context, stale engine.Secret) (engine.Secret, error) {
		return s.cfg.Tokens.token(ctx, st, s.http, base, co, stale)
	}
	return cl, nil
}

// hasToken reports whether a company's connection can have a token: a
// token (or sandbox) connection without one cannot (it is skipped, or
// fails with SHOPIFY_AUTH_REJECTED); the other kinds get one.
func hasToken(c *engine.Company, sec engine.ShopSecrets) bool {
	return sec.AccessToken != "" || (sec.Auth != engine.ShopAuthToken && !c.Shop.Sandbox)
}

// baseURL is where a shop's Admin API lives (see BaseURL), through the
// domain map first.
func (s *service) baseURL(shop *engine.Shop) (string, error) {
	if s.cfg.DomainMap != nil && shop != nil && !shop.Sandbox {
		if base, ok := s.cfg.DomainMap(normalDomain(shop.Domain)); ok {
			return strings.TrimRight(base, "/"), nil
		}
	}
	return BaseURL(shop, s.cfg.SandboxURL)
}

// client is a client of the shop at endpoint ep, paced by the service's
// bucket of that endpoint.
func (s *service) client(ep string, token engine.Secret, log *slog.Logger) *Client {
	return &Client{endpoint: ep, token: token, http: s.http, bucket: s.bucket(ep), policy: s.cfg.Client,
		log: log, jitter: s.cfg.Jitter, sleep: engine.SleepCtx, metrics: s.cfg.Metrics}
}

// NewClient builds a client of one shop outside any phase (tools, tests).
func NewClient(cfg Config, shop *engine.Shop, token engine.Secret) (*Client, error) {
	s := newService(cfg)
	base, err := s.baseURL(shop)
	if err != nil {
		return nil, err
	}
	return s.client(Endpoint(base), token, s.log), nil
}

// target is one product to mirror: a product of our own, with the date
// event (occurrence) it sells and what the phases need around it.
type target struct {
	root    *engine.Event // the operation's event
	occ     *engine.Event // the date event the product sells
	venue   *engine.Venue // nil when gone
	product engine.Product
	name    string // the child phase's name
	inst    string // the installation id, part of every SKU (skuOf)
}

// loadTargets reads every product the operation covers, in a stable order
// (occurrences by start, then the structure's order), and names each as its
// child phase is named. A deleted event still counts: delete operations
// withdraw its products.
//
// With subject set (a child phase), only that occurrence is read: names
// cannot collide across occurrences (they carry the date), so its targets
// are named as they were among all of them, and a recurring event's
// children do not each read every occurrence.
func loadTargets(r *engine.PhaseRun, subject uint64) ([]*target, error) {
	var out []*target
	err := r.View(func(tx engine.Tx) error {
		var err error
		out, err = readTargets(tx, r.Op.EventID, subject)
		return err
	})
	return out, err
}

// readTargets is loadTargets inside a read transaction.
func readTargets(tx engine.Tx, eventID, subject uint64) ([]*target, error) {
	root, err := tx.Event(eventID)
	if err != nil || root == nil {
		return nil, err
	}
	occs := []*engine.Event{root}
	switch {
	case root.Type != engine.EventRecurring:
	case subject != 0:
		occ, err := tx.Event(subject)
		if err != nil {
			return nil, err
		}
		occs = nil
		if occ != nil && !occ.Deleted && occ.ParentID == root.ID {
			occs = []*engine.Event{occ}
		}
	default:
		if occs, err = tx.ChildEvents(root.ID); err != nil {
			return nil, err
		}
	}
	inst, err := tx.InstallationID()
	if err != nil {
		return nil, err
	}
	var out []*target
	venues := map[uint64]*engine.Venue{}
	for _, occ := range occs {
		s, err := tx.TicketStructure(occ.ID)
		if err != nil {
			return nil, err
		}
		if s == nil {
			continue
		}
		v, ok := venues[occ.VenueID]
		if !ok {
			if v, err = tx.Venue(occ.VenueID); err != nil {
				return nil, err
			}
			venues[occ.VenueID] = v
		}
		for _, p := range s.Products {
			out = append(out, &target{root: root, occ: occ, venue: v, product: p, inst: inst})
		}
	}
	nameTargets(out)
	return out, nil
}

// nameTargets gives each target the readable, stable name of its child
// phase: "occurrence 2026-12-05" for an occurrence of a recurring event (in
// the venue's zone), the registration type's name for a split product, both
// for a split product of an occurrence. Names that would collide (two
// occurrences on one day, two types of one name) get the product key
// appended. The same structure always yields the same names, which is how a
// child finds its product again.
func nameTargets(ts []*target) {
	for _, t := range ts {
		var parts []string
		if t.root.Type == engine.EventRecurring {
			parts = append(parts, "occurrence "+localDate(t.occ, t.venue))
		}
		if t.occ.SplitProducts && len(t.product.Variants) == 1 {
			parts = append(parts, t.product.Variants[0].Title)
		}
		if len(parts) == 0 {
			parts = append(parts, "product "+t.product.Key)
		}
		t.name = strings.Join(parts, " · ")
	}
	seen := map[string]int{}
	for _, t := range ts {
		seen[t.name]++
	}
	for _, t := range ts {
		if seen[t.name] > 1 {
			t.name += " (" + t.product.Key + ")"
		}
	}
}

func localDate(ev *engine.Event, v *engine.Venue) string {
	loc := time.UTC
	if v != nil {
		loc = engine.LoadLocation(v.TimeZone)
	}
	return ev.StartsAt.In(loc).Format("2006-01-02")
}

// expandTargets splits a phase into one child per product when the
// operation covers more than one (DESIGN §4: per occurrence, per product).
// The child's Subject is the occurrence's event id and its Name is the
// target's name; pick maps a child back to its product.
func expandTargets(r *engine.PhaseRun) ([]*engine.Phase, error) {
	// A date event without split products is one product: no children,
	// and no need to read more than the event.
	var single bool
	if err := r.View(func(tx engine.Tx) error {
		ev, err := tx.Event(r.Op.EventID)
		single = ev != nil && ev.Type == engine.EventDate && !ev.SplitProducts
		return err
	}); err != nil || single {
		return nil, err
	}
	ts, err := loadTargets(r, 0)
	if err != nil || len(ts) <= 1 {
		return nil, err
	}
	kids := make([]*engine.Phase, len(ts))
	for i, t := range ts {
		kids[i] = &engine.Phase{Name: t.name, Subject: t.occ.ID, Status: engine.StatusPending}
	}
	return kids, nil
}

// subjectOf is the occurrence a child phase works on (0: the whole
// operation).
func subjectOf(r *engine.PhaseRun) uint64 {
	if r.Phase != nil {
		return r.Phase.Subject
	}
	return 0
}

// pick is the targets of this run among ts (read with subjectOf(r)): all
// of them for an unexpanded phase, the child's own product for a child.
func pick(r *engine.PhaseRun, ts []*target, subject uint64) []*target {
	if subject == 0 {
		return ts
	}
	for _, t := range ts {
		if t.occ.ID == r.Phase.Subject && t.name == r.Phase.Name {
			return []*target{t}
		}
	}
	r.Log.Warn("child phase has no product any more", "subject", r.Phase.Subject, "name", r.Phase.Name)
	return nil
}

// idemKey derives an idempotency key (UUID-shaped, as Shopify expects) from
// the parts, so that a resumed phase re-sends the same key.
func idemKey(parts ...any) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%v\x00", p)
	}
	b := h.Sum(nil)[:16]
	b[6] = b[6]&0x0f | 0x50 // version 5 (name-based)
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	x := hex.EncodeToString(b)
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

// phaseErr turns what the client returned into the phase's error: engine
// errors as they are, a refused document as the phase's permanent code,
// anything else (an answer we could not read) as a transient shop failure.
func phaseErr(ctx context.Context, err error, code engine.Code, what string) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ee *engine.Error
	if errors.As(err, &ee) {
		return err
	}
	var ge GraphQLErrors
	if errors.As(err, &ge) {
		return engine.Errorf(code, "%s: the shop refused the request: %v", what, ge)
	}
	return engine.Transientf(engine.CodeShopifyUnavailable, "%s: %v", what, err)
}

// price renders minor units as the decimal string Shopify's Money takes:
// exactly the currency's decimals ("25.00", "5000" for yen), by the
// engine's codec.
func price(m engine.Money) (string, error) { return m.Decimal() }

// stageProductIDs writes the shop's ids of one product into its ticket
// structure in the commit that completes the phase (Shopify ids appear on
// our products as catalog completes). Empty ids clear them (delete). The
// variants in created were created by this operation (see
// engine.Variant.CreatedBy).
func stageProductIDs(r *engine.PhaseRun, occID uint64, key, productID string, variants map[uint64][2]string, created map[uint64]bool) {
	r.Stage(func(tx engine.Tx) error {
		s, err := tx.TicketStructure(occID)
		if err != nil || s == nil {
			return err
		}
		changed := false
		var alloc map[uint64]*int
		for i := range s.Products {
			p := &s.Products[i]
			if p.Key != key {
				continue
			}
			if p.ShopifyProductID != productID {
				p.ShopifyProductID, changed = productID, true
			}
			for j := range p.Variants {
				v := &p.Variants[j]
				ids := variants[v.RegistrationTypeID]
				if v.ShopifyVariantID != ids[0] || v.InventoryItemID != ids[1] {
					if v.InventoryItemID != ids[1] {
						// Another inventory item (recreated): what was
						// written for the old one says nothing of it.
						v.ShopOffer, v.ShopOfferSold = nil, 0
						v.ShopPending, v.ShopPendingSold = nil, 0
					}
					v.ShopifyVariantID, v.InventoryItemID, changed = ids[0], ids[1], true
				}
				by := v.CreatedBy
				if created[v.RegistrationTypeID] {
					by = r.Op.ID
					// What this operation's inventory phase will write
					// from 0, recorded now (this commit exists anyway)
					// so that its first write needs no commit of its own;
					// inventory records another value if it writes one.
					if alloc == nil {
						alloc = engine.StructureAllocation(s, nil)
					}
					offer := UnlimitedQuantity
					if a := alloc[v.RegistrationTypeID]; a != nil {
						offer = min(*a, UnlimitedQuantity)
					}
					v.ShopOffer, v.ShopOfferSold, changed = &offer, shopSoldOf(s, v.RegistrationTypeID), true
				} else if ids[0] == "" {
					by = 0
				}
				if v.CreatedBy != by {
					v.CreatedBy, changed = by, true
				}
			}
		}
		if !changed {
			return nil
		}
		return tx.PutTicketStructure(s)
	})
}

// sortedKeys returns m's keys in order, for deterministic batches.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// NewHTTPClient is the client Config.HTTPClient defaults to: a pooled
// transport that keeps as many connections to a shop as calls can be in
// flight to it (workers × the phases running side by side): fewer makes
// every burst dial and tear down connections. A caller that shares one
// between services can close its idle connections on shutdown.
func NewHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 1024
	tr.MaxIdleConnsPerHost = 512
	return &http.Client{Transport: tr}
}
