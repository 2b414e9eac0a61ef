package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
)

// Options configure a Sandbox. The zero value is a usable in-memory sandbox
// with an unlimited cost bucket.
type Options struct {
	// Path is the sandbox's own bbolt file; "" keeps everything in memory.
	// With a path, every change is committed before it is answered, and
	// New restores every shop (ids, sequences, idempotency keys, pending
	// webhooks) from it.
	Path string
	// RestoreRate is each shop's cost bucket restore rate in points per
	// second, as --sandbox-restore-rate: DefaultRestoreRate (1000) is a
	// large shop; 0 (or less) means unlimited: the bucket never throttles,
	// and reports itself full with a restoreRate of 0.
	RestoreRate float64
	// BucketSize is the bucket's capacity in points (0: DefaultBucketSize).
	BucketSize float64
	// Control enables the control routes (faults, call log, buyer orders,
	// admin refunds, deleting products, revoking tokens). Even then they
	// answer only requests from a loopback address, requests whose context
	// carries ControlAccess, or requests AuthorizeControl accepts.
	Control bool
	// AuthorizeControl, when set, may accept a control request that does
	// not come from loopback (for example an admin session of the host
	// application, checked from the request's cookies).
	AuthorizeControl func(*http.Request) bool
	// WebhookURL is where webhooks go for topics the shop has no
	// subscription for, as WebhookURL + "/" + topic (for example
	// http://127.0.0.1:8080/webhooks/shopify + /orders/create): the
	// equivalent of the subscriptions an app declares in its configuration.
	// Subscriptions made with webhookSubscriptionCreate take precedence.
	// "" sends nothing for topics without a subscription.
	WebhookURL string
	// WebhookAttempts bounds the deliveries of one webhook (default 5), and
	// WebhookBackoff is the wait before the first retry, doubled each time
	// (default 1 s).
	WebhookAttempts int
	WebhookBackoff  time.Duration
	// WebhookRetryScale, when above 0, replaces both with Shopify's
	// schedule (9 attempts, waits doubling from about 56 s over 4 hours)
	// with every wait multiplied by it: 1 is Shopify's, 0.001 fits the
	// whole schedule in about 14 s for tests.
	WebhookRetryScale float64
	// CallLogSize is how many calls each shop's call log keeps (default
	// 10,000).
	CallLogSize int
	// TimeoutHold is how long the timeout fault holds a request before it
	// answers 504 (default 30 s); it lets go earlier when the request's
	// context ends (the client gave up) or the sandbox closes. Behind an
	// adaptor whose request context never ends (Fiber's), the hold lasts
	// its full length: keep it above the client's per-call timeout, and
	// close the sandbox before waiting for the host's handlers to finish.
	TimeoutHold time.Duration
	// Clock gives the time (default time.Now). It stamps records and drives
	// the cost bucket.
	Clock func() time.Time
	// HTTPClient sends webhooks (default: a client with a 10 s timeout).
	HTTPClient *http.Client
	// Logger receives the sandbox's logs (default: discarded).
	Logger *slog.Logger
	// TokenTTL is the life of the access tokens the app's grants issue
	// (0: Shopify's, about a day for client credentials and an hour for
	// expiring offline tokens), as --token-ttl.
	TokenTTL time.Duration
}

// Defaults of the cost bucket: a Shopify Plus shop.
const (
	DefaultRestoreRate = 1000
	DefaultBucketSize  = 2000
)

const defaultCallLog = 10000

// ShopCredentials are what an app holds for a shop: the Admin API access
// token and the secret that signs the shop's webhooks.
type ShopCredentials struct {
	Name          string
	AccessToken   string
	WebhookSecret string
	// Currency is the shop's currency (shop { currencyCode }).
	Currency string
}

// ShopOptions are what a shop is created with.
type ShopOptions struct {
	// Currency is the shop's currency, a code of Shopify's CurrencyCode
	// enum ("JPY"); "" is DefaultCurrency. Prices sent to the shop are in
	// it, with at most its decimals.
	Currency string
}

// Errors of the Go API. The HTTP routes map them to 404, 409 and 422.
var (
	ErrShopExists   = errors.New("sandbox: shop already exists")
	ErrShopNotFound = errors.New("sandbox: no such shop")
	ErrNotFound     = errors.New("sandbox: not found")
	ErrInvalid      = errors.New("sandbox: invalid request")
	ErrClosed       = errors.New("sandbox: closed")
)

// Sandbox emulates the Shopify Admin GraphQL API for any number of shops.
type Sandbox struct {
	opts   Options
	schema *ast.Schema
	store  *store // nil in memory
	log    *slog.Logger
	client *http.Client
	now    func() time.Time
	cache  *docCache
	app    App

	mu      sync.RWMutex
	shops   map[string]*shop
	shopSeq int64

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed bool
}

// shop is one shop's state and its runtime companions. mu serialises
// everything that reads or changes st.
type shop struct {
	mu     sync.Mutex
	st     *shopState
	bucket *bucket
	calls  *callLog
	faults []FaultRule
	queue  *deliveryQueue
}

// New opens a sandbox: in memory, or from (and into) opts.Path.
func New(opts Options) (*Sandbox, error) {
	schema, err := loadSchema()
	if err != nil {
		return nil, err
	}
	if opts.RestoreRate < 0 {
		opts.RestoreRate = 0
	}
	if opts.BucketSize <= 0 {
		opts.BucketSize = DefaultBucketSize
	}
	if opts.CallLogSize <= 0 {
		opts.CallLogSize = defaultCallLog
	}
	if opts.WebhookAttempts <= 0 {
		opts.WebhookAttempts = 5
	}
	if opts.WebhookRetryScale > 0 {
		opts.WebhookAttempts = shopifyWebhookAttempts
	}
	if opts.WebhookBackoff <= 0 {
		opts.WebhookBackoff = time.Second
	}
	if opts.TimeoutHold <= 0 {
		opts.TimeoutHold = 30 * time.Second
	}
	s := &Sandbox{
		opts:   opts,
		schema: schema,
		log:    opts.Logger,
		client: opts.HTTPClient,
		now:    opts.Clock,
		cache:  newDocCache(512),
		shops:  map[string]*shop{},
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: 10 * time.Second}
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.app = newApp()
	if opts.Path != "" {
		st, err := openStore(opts.Path)
		if err != nil {
			return nil, err
		}
		states, seq, err := st.load()
		if err != nil {
			st.close()
			return nil, err
		}
		if s.app, err = st.loadApp(); err != nil {
			st.close()
			return nil, err
		}
		s.store, s.shopSeq = st, seq
		for name, state := range states {
			s.shops[name] = s.newShop(state)
		}
		for _, sh := range s.shops {
			s.resumeDeliveries(sh)
		}
	}
	return s, nil
}

func (s *Sandbox) newShop(st *shopState) *shop {
	sh := &shop{
		st:     st,
		bucket: newBucket(s.opts.BucketSize, s.opts.RestoreRate, s.now()),
		calls:  newCallLog(s.opts.CallLogSize),
	}
	sh.queue = newDeliveryQueue(s, sh)
	return sh
}

// Close stops webhook deliveries (pending ones resume at the next New on
// the same file), lets held requests go and closes the file. It may be
// called more than once.
func (s *Sandbox) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	if s.store != nil {
		return s.store.close()
	}
	return nil
}

var shopNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,59}$`)

// reserved names would clash with the sandbox's own routes.
var reservedShopNames = map[string]bool{"state": true, "admin": true}

// CreateShop creates a shop with fresh credentials. The name is made into a
// handle (lower case letters, digits and hyphens: "Demo Shop" → "demo-shop");
// an empty name becomes "shop-N", N counting the shops created so far. The
// shop starts with its own location ("Shop location", Location/1) and the
// Online Store publication (Publication/1). Creating a shop that exists is
// ErrShopExists.
func (s *Sandbox) CreateShop(name string) (ShopCredentials, error) {
	return s.CreateShopWith(name, ShopOptions{})
}

// CreateShopWith is CreateShop with options: a shop in another currency.
// An unknown currency is ErrInvalid.
func (s *Sandbox) CreateShopWith(name string, o ShopOptions) (ShopCredentials, error) {
	cur := strings.ToUpper(strings.TrimSpace(o.Currency))
	if cur == "" {
		cur = DefaultCurrency
	}
	if !validCurrency(cur) {
		return ShopCredentials{}, fmt.Errorf("%w: currency %q is not a Shopify currency code", ErrInvalid, o.Currency)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ShopCredentials{}, ErrClosed
	}
	handle := slugify(name)
	seq := s.shopSeq + 1
	if handle == "" {
		handle = fmt.Sprintf("shop-%d", seq)
	}
	if !shopNameRE.MatchString(handle) || reservedShopNames[handle] {
		return ShopCredentials{}, fmt.Errorf("%w: shop name %q", ErrInvalid, handle)
	}
	if _, ok := s.shops[handle]; ok {
		return ShopCredentials{}, fmt.Errorf("%w: %s", ErrShopExists, handle)
	}
	now := s.now().UTC()
	st := newShopState()
	st.Meta = shopMeta{
		Name:      handle,
		Number:    seq,
		Token:     "shpat_" + randomHex(16),
		Secret:    randomHex(32),
		Currency:  cur,
		Seq:       map[string]int64{},
		CreatedAt: now,
	}
	st.mark(keyMeta)
	loc := &location{ID: st.next(seqLocation), Name: "Shop location", Active: true, CreatedAt: now, UpdatedAt: now}
	st.Locations[loc.ID] = loc
	st.markID(kindLocation, loc.ID)
	pub := &publication{ID: st.next(seqPublication), Name: "Online Store", CatalogID: st.next(seqCatalog), CatalogTitle: "Online Store"}
	st.Publications[pub.ID] = pub
	st.markID(kindPublication, pub.ID)
	if err := s.store.commit(st, seq); err != nil {
		return ShopCredentials{}, err
	}
	s.shopSeq = seq
	s.shops[handle] = s.newShop(st)
	return credentialsOf(st), nil
}

func credentialsOf(st *shopState) ShopCredentials {
	return ShopCredentials{Name: st.Meta.Name, AccessToken: st.Meta.Token, WebhookSecret: st.Meta.Secret, Currency: st.currency()}
}

// Shops lists the shops' names in order.
func (s *Sandbox) Shops() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	names := make([]string, 0, len(s.shops))
	for n := range s.shops {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Credentials returns a shop's current credentials (for a host that lost
// them, or `eventops sandbox` printing them).
func (s *Sandbox) Credentials(name string) (ShopCredentials, error) {
	sh, err := s.shop(name)
	if err != nil {
		return ShopCredentials{}, err
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return credentialsOf(sh.st), nil
}

// RotateToken gives a shop a new access token and lifts a revocation: the
// app reinstalled. The webhook secret (the app's) stays. Webhook
// subscriptions removed by the revocation are not restored.
func (s *Sandbox) RotateToken(name string) (ShopCredentials, error) {
	sh, err := s.shop(name)
	if err != nil {
		return ShopCredentials{}, err
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.st.Meta.Token = "shpat_" + randomHex(16)
	sh.st.Meta.Revoked = false
	if a := sh.st.Meta.Auth; a != nil {
		a.AppSigned = false
	}
	sh.st.mark(keyMeta)
	if err := s.commit(sh); err != nil {
		return ShopCredentials{}, err
	}
	return credentialsOf(sh.st), nil
}

func (s *Sandbox) shop(name string) (*shop, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	sh := s.shops[name]
	if sh == nil {
		return nil, fmt.Errorf("%w: %s", ErrShopNotFound, name)
	}
	return sh, nil
}

// commit writes a shop's marked records; sh.mu held. When the write fails
// the shop is reloaded from the file (which still holds the last state that
// was answered for) and the error returned.
func (s *Sandbox) commit(sh *shop) error {
	if s.store == nil {
		clear(sh.st.dirty)
		return nil
	}
	err := s.store.commit(sh.st, 0)
	if err == nil {
		return nil
	}
	s.log.Error("sandbox commit failed; reloading the shop", "shop", sh.st.Meta.Name, "err", err)
	if st, lerr := s.store.loadOne(sh.st.Meta.Name); lerr == nil {
		sh.st = st
	}
	return err
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
