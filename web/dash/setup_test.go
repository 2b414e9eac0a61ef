package dash

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/crypto/bcrypt"

	"eventops/engine"
	"eventops/storage"
	"eventops/storage/pgtest"
	"eventops/storage/storetest"
)

// dashApp mounts a dashboard on an app configured as web.New configures
// its own (Immutable: what is read from a request may be kept).
func dashApp(cfg Config) (*fiber.App, *Dashboard) {
	var d *Dashboard
	// The not-found page comes from the error handler, as web.New's
	// error handler gives it.
	app := fiber.New(fiber.Config{Immutable: true, DisableStartupMessage: true, ErrorHandler: func(c *fiber.Ctx, err error) error {
		var fe *fiber.Error
		if errors.As(err, &fe) && fe.Code == fiber.StatusNotFound && d.NotFoundPage(c) {
			return d.NotFound(c)
		}
		return fiber.DefaultErrorHandler(c, err)
	}})
	d = New(cfg)
	d.Mount(app)
	return app, d
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// dashFixture is one test's installation with the dashboard: its own data
// file, a started engine, a company with a venue and a ticket type, an admin
// and a viewer. Phase work may be held with a dashGate.
type dashFixture struct {
	t       testing.TB
	db      *storage.DB
	eng     *engine.Engine
	app     *fiber.App
	dash    *Dashboard
	clock   *dashClock
	company *engine.Company
	venue   *engine.Venue
	tt      *engine.TicketType
	// base is the server's URL when it listens on a real socket.
	base string
	// url is the PostgreSQL database of a dashPostgres fixture.
	url string
	// sealer is the installation's: a dashNodeOf fixture uses its first
	// node's, as every node of an installation has the same key.
	sealer engine.Sealer
}

const (
	dashAdmin    = "admin@example.com"
	dashViewer   = "viewer@example.com"
	dashPassword = "correct horse battery staple"
)

type dashSetupOptions struct {
	work    map[string]engine.Work
	opts    Options
	listen  bool
	public  string // PublicURL; with listen, the listener's URL by default
	clock   bool   // an injected, settable clock
	workers int
	// engine adjusts the engine's configuration (a sealer, shop readers).
	engine func(*engine.Config)
	// opJSON is Config.OperationJSON.
	opJSON func(*engine.Operation) any
	// postgres puts the installation on a fresh PostgreSQL database
	// whatever EVENTOPS_TEST_STORE says, with the limits shared;
	// nodeOf makes this fixture a second node of another's installation.
	postgres bool
	nodeOf   *dashFixture
}

// dashPostgres runs the fixture on a PostgreSQL database of its own (it
// skips without PostgreSQL), as a node of several would: SharedStore and
// the shared sign-in limits.
func dashPostgres() dashOption { return func(o *dashSetupOptions) { o.postgres = true } }

// dashNodeOf makes the fixture a second node of first's installation (a
// dashPostgres one): its own store on the same database, engine and
// dashboard, and first's company, venue, ticket type and users.
func dashNodeOf(first *dashFixture) dashOption {
	return func(o *dashSetupOptions) { o.postgres, o.nodeOf = true, first }
}

// dashOpJSON sets how an operation's raw JSON is built (Config.OperationJSON).
func dashOpJSON(fn func(*engine.Operation) any) dashOption {
	return func(o *dashSetupOptions) { o.opJSON = fn }
}

type dashOption func(*dashSetupOptions)

func dashWork(name string, w engine.Work) dashOption {
	return func(o *dashSetupOptions) {
		if o.work == nil {
			o.work = map[string]engine.Work{}
		}
		o.work[name] = w
	}
}

func dashOpts(fn func(*Options)) dashOption {
	return func(o *dashSetupOptions) { fn(&o.opts) }
}

func dashListen() dashOption { return func(o *dashSetupOptions) { o.listen = true } }

func dashPublicURL(u string) dashOption { return func(o *dashSetupOptions) { o.public = u } }

func dashFakeClock() dashOption { return func(o *dashSetupOptions) { o.clock = true } }

func dashWorkers(n int) dashOption { return func(o *dashSetupOptions) { o.workers = n } }

func dashEngine(fn func(*engine.Config)) dashOption {
	return func(o *dashSetupOptions) { o.engine = fn }
}

// dashClock is a settable clock for expiry tests.
type dashClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *dashClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *dashClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func setupDash(t testing.TB, options ...dashOption) *dashFixture {
	t.Helper()
	var o dashSetupOptions
	for _, fn := range options {
		fn(&o)
	}
	f := &dashFixture{t: t}
	var db *storage.DB
	var err error
	switch {
	case o.nodeOf != nil:
		f.url = o.nodeOf.url
	case o.postgres:
		f.url = pgtest.Database(t)
	}
	if f.url != "" {
		db, err = storage.OpenPostgres(context.Background(), f.url, storage.Options{})
	} else {
		db, err = storetest.Open(t, filepath.Join(t.TempDir(), "eventops.db"), storage.Options{})
	}
	if err != nil {
		t.Fatalf("open storage: %v", err)
	}
	f.db = db
	var sealer engine.Sealer
	if o.nodeOf != nil {
		sealer = o.nodeOf.sealer
	} else if sealer, err = storage.LoadSealer(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	ecfg := engine.Config{SharedStore: db.Postgres(), Store: db, Work: o.work, Logger: quietLogger(), Workers: o.workers,
		Retry: engine.RetryPolicy{Base: time.Millisecond, Max: 5 * time.Millisecond, Attempts: 2}, Sealer: sealer}
	cfg := Config{Logger: quietLogger(), PublicURL: o.public, Options: o.opts, OperationJSON: o.opJSON}
	if o.postgres {
		cfg.Options.LoginLimits = db
	}
	if o.clock {
		f.clock = &dashClock{now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
		ecfg.Clock, cfg.Clock = f.clock.Now, f.clock.Now
	}
	if o.engine != nil {
		o.engine(&ecfg)
	}
	f.sealer = ecfg.Sealer
	f.eng = engine.New(ecfg)
	if err := f.eng.Start(context.Background()); err != nil {
		t.Fatalf("start engine: %v", err)
	}
	cfg.Engine = f.eng

	var ln net.Listener
	if o.listen {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		f.base = "http://" + ln.Addr().String()
		if cfg.PublicURL == "" {
			cfg.PublicURL = f.base
		}
	}
	f.app, f.dash = dashApp(cfg)
	served := make(chan struct{})
	if ln != nil {
		go func() {
			defer close(served)
			_ = f.app.Listener(ln)
		}()
	} else {
		close(served)
	}
	t.Cleanup(func() {
		f.dash.CloseSockets()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = f.app.ShutdownWithContext(ctx)
		<-served
		f.eng.Stop(5 * time.Second)
		if err := db.Check(); err != nil {
			t.Errorf("check: %v", err)
		}
		if err := db.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})

	if o.nodeOf != nil {
		f.company, f.venue, f.tt = o.nodeOf.company, o.nodeOf.venue, o.nodeOf.tt
		return f
	}
	ctx := context.Background()
	if f.company, err = f.eng.CreateCompany(ctx, "Acme Events", nil); err != nil {
		t.Fatal(err)
	}
	if f.venue, err = f.eng.CreateVenue(ctx, f.company.ID, engine.VenueInput{Name: "Blue Room", TimeZone: "America/Chicago"}); err != nil {
		t.Fatal(err)
	}
	if f.tt, err = f.eng.CreateTicketType(ctx, f.company.ID, engine.TicketTypeInput{Name: "General admission"}); err != nil {
		t.Fatal(err)
	}
	// Users are stored with a cheap bcrypt hash: CreateUser's full cost,
	// paid at every setup and sign-in, would dominate the tests under -race.
	err = db.Update(ctx, func(tx engine.Tx) error {
		for _, u := range []struct {
			email string
			role  engine.Role
		}{{dashAdmin, engine.RoleAdmin}, {dashViewer, engine.RoleViewer}} {
			id, err := tx.NextID(engine.SeqUser)
			if err != nil {
				return err
			}
			if err := tx.PutUser(&engine.User{ID: id, Email: u.email, Role: u.role, PasswordHash: cheapHash(), CreatedAt: time.Now()}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

var cheapHash = sync.OnceValue(func() []byte {
	h, err := bcrypt.GenerateFromPassword([]byte(dashPassword), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return h
})

// createEvent starts a save of a new date event named name.
func (f *dashFixture) createEvent(name string) (*engine.Event, *engine.Operation) {
	f.t.Helper()
	start := time.Date(2026, 12, 5, 19, 0, 0, 0, time.UTC)
	end := start.Add(4 * time.Hour)
	capacity, qty := 200, 150
	in := engine.EventInput{
		Name: &name, Type: ptrTo(engine.EventDate), VenueID: &f.venue.ID,
		StartsAt: &start, EndsAt: &end,
		Capacity: engine.Nullable[int]{Set: true, Value: &capacity},
		RegistrationTypes: &[]engine.RegistrationTypeInput{{
			Name: "General admission", TicketTypeID: f.tt.ID,
			Price: engine.MoneyInput{Amount: ptrTo(int64(2500)), Currency: "USD"}, Quantity: &qty,
		}},
	}
	ev, op, err := f.eng.CreateEvent(context.Background(), f.company.ID, in)
	if err != nil {
		f.t.Fatalf("create event: %v", err)
	}
	return ev, op
}

func ptrTo[T any](v T) *T { return &v }

// waitOp waits until operation id satisfies ok.
func (f *dashFixture) waitOp(id uint64, ok func(*engine.Operation) bool) *engine.Operation {
	f.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		op, err := f.eng.Operation(0, id)
		if err == nil && ok(op) {
			return op
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("operation %d: condition not reached (last %+v, %v)", id, op, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// dashResp is an answer read in full.
type dashResp struct {
	Status int
	Header http.Header
	Body   string
	what   string
}

func (r *dashResp) expect(t testing.TB, status int) *dashResp {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: status %d, want %d\n%s", r.what, r.Status, status, r.Body)
	}
	return r
}

func (r *dashResp) contains(t testing.TB, parts ...string) *dashResp {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(r.Body, p) {
			t.Fatalf("%s: body lacks %q\n%s", r.what, p, r.Body)
		}
	}
	return r
}

func (r *dashResp) lacks(t testing.TB, parts ...string) *dashResp {
	t.Helper()
	for _, p := range parts {
		if strings.Contains(r.Body, p) {
			t.Fatalf("%s: body has %q\n%s", r.what, p, r.Body)
		}
	}
	return r
}

// browser is a cookie jar over app.Test: a signed-in (or not) user.
type browser struct {
	f       *dashFixture
	cookies map[string]string
	origin  string
}

func (f *dashFixture) browser() *browser {
	return &browser{f: f, cookies: map[string]string{}, origin: "http://example.com"}
}

// on is the same browser (its cookies) sending to another node, as a load
// balancer would.
func (b *browser) on(f *dashFixture) *browser {
	return &browser{f: f, cookies: b.cookies, origin: b.origin}
}

// do sends a request; form, when not nil, is posted urlencoded.
func (b *browser) do(method, path string, form url.Values, headers ...string) *dashResp {
	b.f.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for name, v := range b.cookies {
		req.AddCookie(&http.Cookie{Name: name, Value: v})
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := b.f.app.Test(req, -1)
	if err != nil {
		b.f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	for _, c := range res.Cookies() {
		if c.MaxAge < 0 || c.Value == "" {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c.Value
		}
	}
	return &dashResp{Status: res.StatusCode, Header: res.Header, Body: string(raw), what: method + " " + path}
}

func (b *browser) get(path string) *dashResp { return b.do("GET", path, nil) }

var csrfInput = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// token is the CSRF token of the forms on a page.
func (b *browser) token(path string) string {
	b.f.t.Helper()
	m := csrfInput.FindStringSubmatch(b.get(path).expect(b.f.t, 200).Body)
	if m == nil {
		b.f.t.Fatalf("%s has no form token", path)
	}
	return m[1]
}

// post sends a form with the page's token.
func (b *browser) post(path string, form url.Values) *dashResp {
	b.f.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	return b.do("POST", path, form)
}

// signIn signs in through the form.
func (b *browser) signIn(email string) *browser {
	b.f.t.Helper()
	tok := b.token("/login")
	r := b.post("/login", url.Values{"_csrf": {tok}, "email": {email}, "password": {dashPassword}})
	if r.Status != http.StatusSeeOther {
		b.f.t.Fatalf("sign in as %s: status %d\n%s", email, r.Status, r.Body)
	}
	if b.cookies[sessionCookie] == "" {
		b.f.t.Fatalf("sign in as %s: no session cookie", email)
	}
	return b
}

func (f *dashFixture) admin() *browser  { return f.browser().signIn(dashAdmin) }
func (f *dashFixture) viewer() *browser { return f.browser().signIn(dashViewer) }

func opPage(id uint64) string { return fmt.Sprintf("/operations/%d", id) }

// dashGate holds a phase's work until released, then does the real work;
// progress reports units along the way when set.
type dashGate struct {
	started chan struct{}
	release chan struct{}
	once    sync.Once
	next    engine.Work
}

func newDashGate(next engine.Work) *dashGate {
	return &dashGate{started: make(chan struct{}, 64), release: make(chan struct{}), next: next}
}

func (g *dashGate) open() { g.once.Do(func() { close(g.release) }) }

func (g *dashGate) Run(ctx context.Context, r *engine.PhaseRun) error {
	g.started <- struct{}{}
	r.Progress(1, 3)
	select {
	case <-g.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.next.Run(ctx, r)
}

func (g *dashGate) waitStarted(t testing.TB) {
	t.Helper()
	select {
	case <-g.started:
	case <-time.After(20 * time.Second):
		t.Fatal("held work did not start")
	}
}
