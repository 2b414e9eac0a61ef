package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"eventops/engine"
	"eventops/engine/outbound"
	"eventops/web/client"
)

// receiver is a real local https server that records every delivery and
// answers with the statuses given, in turn (then 200).
type receiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []received
	// answers are the statuses of the first requests, in order.
	answers []int
}

type received struct {
	header http.Header
	body   []byte
	status int
}

func newReceiver(t testing.TB, answers ...int) *receiver {
	r := &receiver{answers: answers}
	r.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		status := http.StatusOK
		if n := len(r.got); n < len(r.answers) {
			status = r.answers[n]
		}
		r.got = append(r.got, received{header: req.Header.Clone(), body: body, status: status})
		r.mu.Unlock()
		w.WriteHeader(status)
		fmt.Fprintf(w, "answered %d", status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// hooks is the webhook wiring of a test installation: a sender that trusts
// local receivers' certificates, with the guard given.
func withHooks(guard *outbound.Guard, tlsFrom ...*receiver) option {
	return withEngine(func(c *engine.Config) {
		var opt outbound.Options
		opt.Guard = guard
		opt.Render = func(m *engine.WebhookMessage) ([]byte, error) { return WebhookPayload("https://eventops.test", m) }
		if len(tlsFrom) > 0 {
			opt.TLS = tlsFrom[0].srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
		}
		c.Webhooks = outbound.New(opt)
		c.URLGuard = guard
		c.WebhookRetryScale = 0.0001 // 5 s → 0.5 ms, 5 min → 30 ms, 30 min → 180 ms
	})
}

// verify is an independent implementation of the Standard Webhooks check,
// written here from the specification: HMAC-SHA256 under the base64 key
// after "whsec_", over "id.timestamp.body", base64, behind "v1,", one of
// the space-separated signatures.
func verify(t testing.TB, secret string, h http.Header, body []byte) bool {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatalf("secret %q: %v", secret, err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(h.Get("webhook-id") + "." + h.Get("webhook-timestamp") + "." + string(body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, s := range strings.Split(h.Get("webhook-signature"), " ") {
		if hmac.Equal([]byte(s), []byte(want)) {
			return true
		}
	}
	return false
}

func (f *fixture) createEndpoint(key, url string, events ...string) client.WebhookEndpoint {
	f.t.Helper()
	body, _ := json.Marshal(map[string]any{"webhook_endpoint": map[string]any{"url": url, "events": events}})
	return decode[client.WebhookEndpoint](f.t, f.do("POST", "/api/v2/webhook_endpoints", key, body).expect(f.t, 201))
}

func (f *fixture) deliveries(epID uint64) []client.WebhookDelivery {
	f.t.Helper()
	return decode[client.Page[client.WebhookDelivery]](f.t,
		f.do("GET", "/api/v2/webhook_endpoints/"+itoa(epID)+"/deliveries", f.keyA, nil).expect(f.t, 200)).Data
}

// A receiver answering 500 three times gets the delivery on the fourth
// attempt, with the same webhook-id each time, a timestamp per attempt and
// a signature that an independent verifier accepts; the body is the
// operation as the API returns it, with its version.
func TestWebhookRetriedUntilDelivered(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, 500, 500, 500)
	f := setup(t, withHooks(&outbound.Guard{AllowPrivate: true}, rcv), withConfig(func(c *Config) { c.MetricsPublic = true }))
	ep := f.createEndpoint(f.keyA, rcv.srv.URL+"/hooks", "operation.completed")
	if !strings.HasPrefix(ep.Secret, "whsec_") || !ep.Enabled {
		t.Fatalf("created endpoint: %+v", ep)
	}
	// The secret is shown once: never in a read.
	again := f.do("GET", "/api/v2/webhook_endpoints/"+itoa(ep.ID), f.keyA, nil).expect(t, 200)
	if strings.Contains(string(again.Body), ep.Secret) || strings.Contains(string(again.Body), "whsec_") {
		t.Fatalf("a read shows the secret: %s", again.Body)
	}

	ev := f.event(f.keyA)
	op := f.waitTerminal(ev.EventID, ev.OpID)
	waitUntil(t, "a delivered attempt", func() bool { return len(rcv.requests()) >= 4 })

	got := rcv.requests()
	if len(got) != 4 {
		t.Fatalf("%d attempts, want 4", len(got))
	}
	for i, r := range got {
		if r.header.Get("webhook-id") != got[0].header.Get("webhook-id") {
			t.Errorf("attempt %d has webhook-id %q, the first had %q", i+1, r.header.Get("webhook-id"), got[0].header.Get("webhook-id"))
		}
		if !verify(t, ep.Secret, r.header, r.body) {
			t.Errorf("attempt %d: the signature does not verify: %s", i+1, r.header.Get("webhook-signature"))
		}
		sec, err := strconv.ParseInt(r.header.Get("webhook-timestamp"), 10, 64)
		if err != nil || time.Since(time.Unix(sec, 0)).Abs() > time.Minute {
			t.Errorf("attempt %d: webhook-timestamp %q is not now", i+1, r.header.Get("webhook-timestamp"))
		}
		if r.header.Get("Content-Type") != "application/json" {
			t.Errorf("attempt %d: Content-Type %q", i+1, r.header.Get("Content-Type"))
		}
	}
	var body client.WebhookEvent
	if err := json.Unmarshal(got[3].body, &body); err != nil {
		t.Fatal(err)
	}
	data, err := body.Operation()
	if err != nil {
		t.Fatal(err)
	}
	if body.Type != "operation.completed" || data.ID != ev.OpID || data.Status != "completed" ||
		body.Version != op.Version || data.Version != op.Version || op.Version == 0 {
		t.Fatalf("body %s: want operation.completed of %d at version %d", got[3].body, ev.OpID, op.Version)
	}
	if body.Links["operation"] != "https://eventops.test"+opPath(ev.EventID, ev.OpID) {
		t.Errorf("links: %v", body.Links)
	}

	waitUntil(t, "the delivery recorded as delivered", func() bool {
		ds := f.deliveries(ep.ID)
		return len(ds) == 1 && ds[0].Status != "pending"
	})
	ds := f.deliveries(ep.ID)
	if len(ds) != 1 || ds[0].Status != "delivered" || ds[0].Attempts != 4 || !intIs(ds[0].LastResponseStatus, 200) ||
		ds[0].WebhookID != got[0].header.Get("webhook-id") || ds[0].LastResponseBody == nil || *ds[0].LastResponseBody != "answered 200" {
		t.Fatalf("deliveries: %+v", ds)
	}
	// The counters move just after the commit that readers see first.
	waitUntil(t, "the delivered counter", func() bool {
		return scrape(t, f)[`eventops_webhook_deliveries_total{outcome="delivered"}`] == 1
	})
	m := scrape(t, f)
	wantSeries(t, m, `eventops_webhook_deliveries_total{outcome="delivered"}`, 1)
	wantSeries(t, m, `eventops_webhook_deliveries_total{outcome="retried"}`, 3)
	wantSeries(t, m, `eventops_webhook_oldest_pending_seconds`, 0)

	// A replay sends it again with the same webhook-id.
	f.do("POST", fmt.Sprintf("/api/v2/webhook_endpoints/%d/deliveries/%d/retry", ep.ID, ds[0].ID), f.keyA, nil).expect(t, 202)
	waitUntil(t, "the replay", func() bool { return len(rcv.requests()) == 5 })
	if id := rcv.requests()[4].header.Get("webhook-id"); id != ds[0].WebhookID {
		t.Errorf("replay webhook-id %q, want %q", id, ds[0].WebhookID)
	}
}

// fakeDNS resolves names from a table the test changes (DNS rebinding).
type fakeDNS struct {
	mu    sync.Mutex
	hosts map[string]string
}

func (d *fakeDNS) set(host, addr string) {
	d.mu.Lock()
	d.hosts[host] = addr
	d.mu.Unlock()
}

func (d *fakeDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	a, ok := d.hosts[host]
	if !ok {
		return nil, fmt.Errorf("no such host %s", host)
	}
	return []netip.Addr{netip.MustParseAddr(a)}, nil
}

// Endpoint URLs that lead to loopback, private, link-local or metadata
// addresses are refused at creation, by literal or by name; http is
// refused; and a name that resolves elsewhere at connection time (DNS
// rebinding) is refused by the dialer before any packet leaves.
func TestWebhookEndpointsRefusePrivateAddresses(t *testing.T) {
	t.Parallel()
	dns := &fakeDNS{hosts: map[string]string{}}
	guard := &outbound.Guard{Resolver: dns}
	f := setup(t, withHooks(guard))
	cases := []struct{ class, addr string }{
		{"loopback", "127.0.0.1"}, {"loopback", "::1"}, {"loopback", "127.8.9.10"},
		{"private", "10.1.2.3"}, {"private", "172.16.0.9"}, {"private", "192.168.1.1"}, {"private", "fd12::1"},
		{"private", "100.64.0.1"},
		{"link-local", "169.254.10.10"}, {"link-local", "fe80::1"},
		{"metadata", "169.254.169.254"}, {"metadata", "fd00:ec2::254"},
		{"unspecified", "0.0.0.0"}, {"private", "::ffff:10.0.0.1"},
	}
	for _, c := range cases {
		host := "h" + strings.NewReplacer(".", "-", ":", "-").Replace(c.addr) + ".example"
		dns.set(host, c.addr)
		for _, url := range []string{"https://" + host + "/hook", "https://" + bracket(c.addr) + "/hook"} {
			body, _ := json.Marshal(map[string]any{"webhook_endpoint": map[string]any{"url": url, "events": []string{"order.created"}}})
			r := f.do("POST", "/api/v2/webhook_endpoints", f.keyA, body)
			p := r.expectProblem(t, 422, "validation_error")
			if !strings.Contains(p.Detail+p.Message+string(r.Body), c.class) {
				t.Errorf("%s (%s): the refusal does not say %s: %s", url, c.addr, c.class, r.Body)
			}
		}
	}
	dns.set("public.example", "203.0.113.7")
	body := `{"webhook_endpoint": {"url": "http://public.example/hook", "events": ["order.created"]}}`
	f.do("POST", "/api/v2/webhook_endpoints", f.keyA, body).expectProblem(t, 422, "validation_error")

	// Allowed at creation, then the name moves to the metadata address.
	ep := f.createEndpoint(f.keyA, "https://public.example/hook", "operation.completed")
	dns.set("public.example", "169.254.169.254")
	ev := f.event(f.keyA)
	f.waitTerminal(ev.EventID, ev.OpID)
	waitUntil(t, "a refused attempt", func() bool {
		ds := f.deliveries(ep.ID)
		return len(ds) == 1 && ds[0].Attempts >= 1
	})
	d := f.deliveries(ep.ID)[0]
	if d.LastError == nil || !strings.Contains(*d.LastError, "metadata address") || d.LastResponseStatus != nil || d.Status == "delivered" {
		t.Fatalf("delivery after rebinding: %+v (last error %v)", d, d.LastError)
	}
}

func bracket(addr string) string {
	if strings.Contains(addr, ":") {
		return "[" + addr + "]"
	}
	return addr
}

// A rotated secret signs beside the new one for 24 hours: a receiver still
// holding the old secret verifies, and so does one with the new secret.
func TestWebhookSecretRotation(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	f := setup(t, withHooks(&outbound.Guard{AllowPrivate: true}, rcv))
	ep := f.createEndpoint(f.keyA, rcv.srv.URL, "operation.completed")
	rot := decode[client.WebhookEndpoint](t, f.do("POST", "/api/v2/webhook_endpoints/"+itoa(ep.ID)+"/rotate_secret", f.keyA, nil).expect(t, 200))
	if rot.Secret == "" || rot.Secret == ep.Secret || rot.PreviousSecretUntil == nil {
		t.Fatalf("rotation: %+v", rot)
	}
	if d := time.Until(*rot.PreviousSecretUntil); d < 23*time.Hour || d > 25*time.Hour {
		t.Errorf("the previous secret signs until %v, want 24 h from now", rot.PreviousSecretUntil)
	}
	ev := f.event(f.keyA)
	f.waitTerminal(ev.EventID, ev.OpID)
	waitUntil(t, "a delivery", func() bool { return len(rcv.requests()) >= 1 })
	r := rcv.requests()[0]
	if !verify(t, rot.Secret, r.header, r.body) || !verify(t, ep.Secret, r.header, r.body) {
		t.Fatalf("signatures %q: want one for the new and one for the old secret", r.header.Get("webhook-signature"))
	}
	if n := len(strings.Fields(r.header.Get("webhook-signature"))); n != 2 {
		t.Errorf("%d signatures, want 2", n)
	}
	// The client's verifier accepts it with either secret.
	for _, s := range []string{rot.Secret, ep.Secret} {
		v, err := client.NewVerifier(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Verify(r.header, r.body); err != nil {
			t.Errorf("client verifier: %v", err)
		}
		if err := v.Verify(r.header, append([]byte(" "), r.body...)); err == nil {
			t.Error("client verifier accepted a changed body")
		}
	}
}

// A disabled endpoint gets nothing, while an enabled one of the same
// company gets the event; a receiver answering 410 disables its endpoint.
func TestWebhookDisabledEndpointGetsNothing(t *testing.T) {
	t.Parallel()
	on, off, gone := newReceiver(t), newReceiver(t), newReceiver(t, 410)
	f := setup(t, withHooks(&outbound.Guard{AllowPrivate: true}, on))
	epOn := f.createEndpoint(f.keyA, on.srv.URL, "operation.completed")
	epOff := f.createEndpoint(f.keyA, off.srv.URL, "operation.completed")
	epGone := f.createEndpoint(f.keyA, gone.srv.URL, "operation.completed")
	f.do("PATCH", "/api/v2/webhook_endpoints/"+itoa(epOff.ID), f.keyA, `{"webhook_endpoint": {"enabled": false}}`).expect(t, 200)

	ev := f.event(f.keyA)
	f.waitTerminal(ev.EventID, ev.OpID)
	waitUntil(t, "the enabled endpoint's delivery", func() bool { return len(on.requests()) == 1 })
	waitUntil(t, "the 410", func() bool {
		ep := decode[client.WebhookEndpoint](t, f.do("GET", "/api/v2/webhook_endpoints/"+itoa(epGone.ID), f.keyA, nil).expect(t, 200))
		return !ep.Enabled && ep.DisabledReason != nil && *ep.DisabledReason == "gone"
	})
	ev2 := f.event(f.keyA)
	f.waitTerminal(ev2.EventID, ev2.OpID)
	waitUntil(t, "the second delivery", func() bool { return len(on.requests()) == 2 })
	if n := len(off.requests()); n != 0 {
		t.Errorf("the disabled endpoint got %d deliveries", n)
	}
	if ds := f.deliveries(epOff.ID); len(ds) != 0 {
		t.Errorf("deliveries were queued for the disabled endpoint: %+v", ds)
	}
	if n := len(gone.requests()); n != 1 {
		t.Errorf("the endpoint that answered 410 got %d requests, want 1", n)
	}
	f.do("POST", fmt.Sprintf("/api/v2/webhook_endpoints/%d/deliveries/%d/retry", epGone.ID, f.deliveries(epGone.ID)[0].ID), f.keyA, nil).
		expectProblem(t, 409, "conflict")
	_ = epOn
}
