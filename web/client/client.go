// Package client is a Go client of eventops' JSON API (DESIGN §3), used by
// `eventops import` and the soak test, and written to be the reference for
// how an integration should talk to the API:
//
//   - every answer that is not 2xx/304 becomes an *Error carrying the RFC 9457
//     problem (type, status, detail, errors.attributes);
//   - 429 is never an error the caller sees while the retry budget lasts:
//     the client sleeps Retry-After (bounded) and every request of the same
//     Client waits with it, so concurrent callers do not stampede; an answer
//     with RateLimit-Remaining: 0 pauses the Client until RateLimit-Reset;
//   - 5xx answers and transport errors are retried with jittered exponential
//     backoff, but only for requests that are safe to repeat: GETs, and
//     writes that carry an Idempotency-Key (a repeat of those answers the
//     first response instead of doing the work twice); a 503 `overloaded`
//     is retried for every request, after its Retry-After, since the
//     server refused it before doing anything;
//   - a 409 to a write with an Idempotency-Key that means the first request
//     with that key is still being handled (e.g. after a timeout) is retried
//     the same way: every 409 of a create, and any 409 with Retry-After;
//   - operations are polled with ETag/If-None-Match and ?wait= long-polls
//     (GetOperation, Wait); only `completed` and `failed` are terminal and
//     `progress` may be null.
//
// It knows the API only by its contract: its types are its own, and of
// eventops it imports only the engine's retry policy (the tree's one
// backoff, engine.RetryPolicy and engine.SleepCtx).
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"eventops/engine"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Headers of the API.
const (
	// HeaderOperationID names the operation a write started.
	HeaderOperationID = "X-Event-Operation-ID"
	// HeaderSyncJobID is the deprecated alias of HeaderOperationID (DESIGN
	// §3.1), read only when the new header is missing.
	HeaderSyncJobID = "X-Event-Sync-Job-ID"
	// HeaderIdempotencyKey makes a write safe to repeat.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderReplayed is set on an answer replayed for a repeated
	// Idempotency-Key.
	HeaderReplayed = "Idempotent-Replayed"
)

// RetryPolicy says how hard the client tries before returning an error.
type RetryPolicy struct {
	// Attempts bounds the tries of one request that meets 5xx answers,
	// transport errors or an in-flight 409 (the first try included).
	Attempts int
	// Base and Max shape the backoff: try n waits min(Base·2^(n-1), Max),
	// scaled by a jitter in [0.5, 1.5).
	Base, Max time.Duration
	// RateLimited bounds the 429 answers one request may meet before the
	// 429 is returned as an error.
	RateLimited int
	// MaxRetryAfter caps one sleep asked for by Retry-After (a server
	// asking for an hour gets this much, then is asked again).
	MaxRetryAfter time.Duration
}

// DefaultRetry suits a server on the same network: six tries over about
// ten seconds for failures, and up to a quarter of an hour of rate
// limiting (sixty-second windows) before giving up.
var DefaultRetry = RetryPolicy{Attempts: 6, Base: 250 * time.Millisecond, Max: 5 * time.Second,
	RateLimited: 15, MaxRetryAfter: 61 * time.Second}

// RetryEvent describes a retry about to happen, for progress displays and
// logs. Status is 0 for a transport error.
type RetryEvent struct {
	Method  string
	Path    string
	Status  int
	Err     error
	Wait    time.Duration
	Attempt int // the try that failed, from 1
}

// Client calls one eventops server with one API key. It is safe for
// concurrent use; share one Client among goroutines so that they share its
// connections and its rate-limit pause.
type Client struct {
	base      string // "http://host:port/api/v2"
	auth      string
	hc        *http.Client
	userAgent string
	retry     RetryPolicy
	timeout   time.Duration
	onRetry   func(RetryEvent)

	// Injected so that tests are exact, not sleepy.
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) error
	jitter func() float64

	mu       sync.Mutex
	pausedTo time.Time // a 429 or an empty rate-limit window holds every request until then
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient replaces the default HTTP client (one with a pooled
// transport keeping up to 64 idle connections to the server, and no
// overall timeout: timeouts are per request, see WithTimeout).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// WithRetry replaces DefaultRetry; zero fields keep their defaults.
func WithRetry(p RetryPolicy) Option {
	return func(c *Client) {
		if p.Attempts > 0 {
			c.retry.Attempts = p.Attempts
		}
		if p.Base > 0 {
			c.retry.Base = p.Base
		}
		if p.Max > 0 {
			c.retry.Max = p.Max
		}
		if p.RateLimited > 0 {
			c.retry.RateLimited = p.RateLimited
		}
		if p.MaxRetryAfter > 0 {
			c.retry.MaxRetryAfter = p.MaxRetryAfter
		}
	}
}

// WithTimeout bounds one try of a request (default 30 s); a long-poll gets
// its wait on top.
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// OnRetry registers a function told of every retry (called from the
// requesting goroutine; keep it quick).
func OnRetry(fn func(RetryEvent)) Option { return func(c *Client) { c.onRetry = fn } }

// New makes a client of the server at baseURL ("https://ops.example.com" or
// the API's base ".../api/v2") authenticating with the API key token.
func New(baseURL, token string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q: want http(s)://host[:port][/api/v2]", baseURL)
	}
	u.RawQuery, u.Fragment = "", ""
	base := strings.TrimRight(u.String(), "/")
	if !strings.HasSuffix(base, "/api/v2") {
		base += "/api/v2"
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 128
	tr.MaxIdleConnsPerHost = 64 // the default of 2 churns connections under concurrency
	c := &Client{
		base:      base,
		auth:      "Token " + strings.TrimSpace(token),
		hc:        &http.Client{Transport: tr},
		userAgent: "eventops-client/1",
		retry:     DefaultRetry,
		timeout:   30 * time.Second,
		now:       time.Now,
		sleep:     sleepCtx,
		jitter:    rand.Float64,
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// BaseURL is the API's base URL, ending in /api/v2.
func (c *Client) BaseURL() string { return c.base }

// sleepCtx waits d or until ctx ends (then its error).
func sleepCtx(ctx context.Context, d time.Duration) error {
	if !engine.SleepCtx(ctx, d) {
		return ctx.Err()
	}
	return nil
}

// request is one API call; body nil means no body.
type request struct {
	method string
	path   string // under the base, e.g. "/events"
	query  url.Values
	body   []byte
	header http.Header
	// hold is a long-poll's wait, added to the try's timeout.
	hold time.Duration
	// inFlightConflict: a 409 means the first request with this
	// Idempotency-Key is still being handled (true of creates, where no
	// other conflict exists), and is retried.
	inFlightConflict bool
}

// safe reports whether the request may be sent again after a failure whose
// outcome is unknown.
func (r *request) safe() bool {
	return r.method == http.MethodGet || r.method == http.MethodHead || r.header.Get(HeaderIdempotencyKey) != ""
}

// overloaded reports whether res is a 503 `overloaded` problem: the server
// refused the request before doing anything, so any request may be sent
// again.
func overloaded(res *response) bool {
	if res.status != http.StatusServiceUnavailable {
		return false
	}
	var p struct {
		Type string `json:"type"`
	}
	return json.Unmarshal(res.body, &p) == nil && p.Type == TypeOverloaded
}

// response is an answer read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends r, retrying as the package documentation says, and returns the
// answer when its status is below 400, else an *Error.
func (c *Client) do(ctx context.Context, r *request) (*response, error) {
	tries, limited := 0, 0
	for {
		if err := c.waitPause(ctx); err != nil {
			return nil, err
		}
		res, err := c.send(ctx, r)
		tries++
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if !r.safe() || tries >= c.retry.Attempts {
				return nil, err
			}
			wait = c.backoff(tries)
		case res.status == http.StatusTooManyRequests:
			tries-- // a 429 was not handled at all: it has its own budget
			if limited++; limited > c.retry.RateLimited {
				return nil, c.newError(r, res)
			}
			wait = retryAfter(res.header, c.now())
			if wait <= 0 {
				wait = c.backoff(limited)
			}
			wait = min(wait, c.retry.MaxRetryAfter)
			// Spread the callers that waited together over a little time.
			wait += time.Duration(c.jitter() * float64(min(wait/10, time.Second)))
			// Every request of the client waits it out, this one included,
			// at the top of the loop.
			c.pause(wait)
			err = c.newError(r, res)
		case res.status >= 500 && res.status != http.StatusNotImplemented && (r.safe() || overloaded(res)) && tries < c.retry.Attempts:
			wait = max(c.backoff(tries), min(retryAfter(res.header, c.now()), c.retry.MaxRetryAfter))
			err = c.newError(r, res)
		case res.status == http.StatusConflict && r.header.Get(HeaderIdempotencyKey) != "" &&
			(r.inFlightConflict || res.header.Get("Retry-After") != "") && tries < c.retry.Attempts:
			// The first request with this key is still being handled: the
			// only 409 of a create, and the only one with Retry-After.
			wait = max(c.backoff(tries), min(retryAfter(res.header, c.now()), c.retry.MaxRetryAfter))
			err = c.newError(r, res)
		default:
			c.notePacing(res.header)
			if res.status >= 400 {
				return nil, c.newError(r, res)
			}
			return res, nil
		}
		if c.onRetry != nil {
			ev := RetryEvent{Method: r.method, Path: r.path, Err: err, Wait: wait, Attempt: tries + limited}
			if res != nil {
				ev.Status = res.status
			}
			c.onRetry(ev)
		}
		if res != nil && res.status == http.StatusTooManyRequests {
			continue
		}
		if err := c.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// send makes one try.
func (c *Client) send(ctx context.Context, r *request) (*response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout+r.hold)
	defer cancel()
	u := c.base + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	req.Header.Set("Authorization", c.auth)
	req.Header.Set("Accept", "application/json")
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.method, r.path, scrubURL(err))
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 32<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", r.method, r.path, err)
	}
	return &response{status: res.StatusCode, header: res.Header, body: b}, nil
}

// scrubURL drops the *url.Error wrapper (whose text repeats the full URL)
// but keeps what went wrong.
func scrubURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		var ne net.Error
		if errors.As(ue.Err, &ne) && ne.Timeout() {
			return fmt.Errorf("timeout: %w", ue.Err)
		}
		return ue.Err
	}
	return err
}

// backoff is the wait before try n+1 after n failed tries: the tree's one
// retry policy (engine.RetryPolicy), with the client's bounds. It is only
// the fallback wait when the server says nothing: Retry-After and
// RateLimit headers come first, 429s have their own budget, and only
// requests safe to repeat are re-sent.
func (c *Client) backoff(n int) time.Duration {
	return engine.RetryPolicy{Base: c.retry.Base, Max: c.retry.Max}.Backoff(n, c.jitter())
}

// pause holds every request of the client for d from now (a longer pause
// already in place is kept).
func (c *Client) pause(d time.Duration) {
	until := c.now().Add(d)
	c.mu.Lock()
	if until.After(c.pausedTo) {
		c.pausedTo = until
	}
	c.mu.Unlock()
}

func (c *Client) waitPause(ctx context.Context) error {
	c.mu.Lock()
	until := c.pausedTo
	c.mu.Unlock()
	if d := until.Sub(c.now()); d > 0 {
		return c.sleep(ctx, d)
	}
	return ctx.Err()
}

// notePacing pauses the client when the rate-limit window is used up, so
// that the next request waits for the window instead of earning a 429.
func (c *Client) notePacing(h http.Header) {
	rem, err := strconv.Atoi(h.Get("RateLimit-Remaining"))
	if err != nil || rem > 0 {
		return
	}
	if reset, err := strconv.Atoi(h.Get("RateLimit-Reset")); err == nil && reset > 0 {
		c.pause(min(time.Duration(reset)*time.Second, c.retry.MaxRetryAfter))
	}
}

// retryAfter reads Retry-After (delta-seconds or an HTTP date); 0 when
// absent or unreadable.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// Problem types the API documents (DESIGN §3); clients branch on them.
const (
	TypeUnauthorized          = "unauthorized"
	TypeForbidden             = "forbidden"
	TypeNotFound              = "not_found"
	TypeParameterMissing      = "parameter_missing"
	TypeUnpermittedParameters = "unpermitted_parameters"
	TypeMalformedJSON         = "malformed_json"
	TypePayloadTooLarge       = "payload_too_large"
	TypeUnsupportedMediaType  = "unsupported_media_type"
	TypeValidation            = "validation_error"
	TypeIdempotencyKeyReused  = "idempotency_key_reused"
	TypeRateLimitExceeded     = "rate_limit_exceeded"
	TypeConflict              = "conflict"
	TypeGone                  = "gone"
	TypeOverloaded            = "overloaded"
)

// Problem is an RFC 9457 problem details body.
type Problem struct {
	Type    string         `json:"type"`
	Title   string         `json:"title"`
	Status  int            `json:"status"`
	Detail  string         `json:"detail"`
	Message string         `json:"message,omitempty"`
	Errors  *ProblemErrors `json:"errors,omitempty"`
	// Successor names the replacement of a retired (410) alias.
	Successor string `json:"successor,omitempty"`
	// Code is the engine's error code of a refusal that has one (503
	// shop_unavailable: ORDER_SHOP_UNAVAILABLE).
	Code string `json:"code,omitempty"`
}

// ProblemErrors holds a validation error's attributes.
type ProblemErrors struct {
	Attributes []AttributeError `json:"attributes"`
}

// AttributeError is one invalid attribute of a 422.
type AttributeError struct {
	Attribute string `json:"attribute"`
	Code      string `json:"code"` // blank, invalid, too_long, out_of_range, ...
	Message   string `json:"message"`
}

// Attributes lists the problem's invalid attributes (none unless 422).
func (p *Problem) Attributes() []AttributeError {
	if p.Errors == nil {
		return nil
	}
	return p.Errors.Attributes
}

// Error is an answer with a status of 400 or more.
type Error struct {
	Method     string
	Path       string // under the API base, e.g. "/events"
	StatusCode int
	// Problem is the problem details body; when the server sent something
	// else, Type is empty and Detail holds the start of the body.
	Problem Problem
	// RetryAfter is the answer's Retry-After, 0 when absent.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d", e.Method, e.Path, e.StatusCode)
	if e.Problem.Type != "" {
		b.WriteString(" " + e.Problem.Type)
	}
	if attrs := e.Problem.Attributes(); len(attrs) > 0 {
		for i, a := range attrs {
			if i == 0 {
				b.WriteString(": ")
			} else {
				b.WriteString("; ")
			}
			b.WriteString(a.Attribute + " " + a.Message)
		}
	} else if e.Problem.Detail != "" {
		b.WriteString(": " + e.Problem.Detail)
	}
	return b.String()
}

// Type is the problem type ("" when the body was not a problem).
func (e *Error) Type() string { return e.Problem.Type }

// AsError returns the *Error in err's chain.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// IsProblem reports whether err is an answer with problem type typ.
func IsProblem(err error, typ string) bool {
	e, ok := AsError(err)
	return ok && e.Problem.Type == typ
}

func (c *Client) newError(r *request, res *response) *Error {
	e := &Error{Method: r.method, Path: r.path, StatusCode: res.status, RetryAfter: retryAfter(res.header, c.now())}
	if err := json.Unmarshal(res.body, &e.Problem); err != nil || e.Problem.Status == 0 && e.Problem.Type == "" {
		e.Problem = Problem{Status: res.status, Title: http.StatusText(res.status),
			Detail: strings.TrimSpace(string(res.body[:min(len(res.body), 200)]))}
	}
	if e.Problem.Detail == "" {
		e.Problem.Detail = e.Problem.Message
	}
	return e
}

// getJSON and postJSON are the plain calls: decode a 2xx answer into out.
func (c *Client) getJSON(ctx context.Context, path string, q url.Values, out any) error {
	res, err := c.do(ctx, &request{method: http.MethodGet, path: path, query: q})
	if err != nil {
		return err
	}
	return decode(res, path, out)
}

// postJSON creates: a POST to a collection.
func (c *Client) postJSON(ctx context.Context, path, envelope string, in any, idemKey string, out any) (*response, error) {
	body, err := json.Marshal(map[string]any{envelope: in})
	if err != nil {
		return nil, fmt.Errorf("POST %s: encode: %w", path, err)
	}
	r := &request{method: http.MethodPost, path: path, body: body, header: http.Header{}, inFlightConflict: true}
	if idemKey != "" {
		r.header.Set(HeaderIdempotencyKey, idemKey)
	}
	res, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	return res, decode(res, path, out)
}

func decode(res *response, path string, out any) error {
	if err := json.Unmarshal(res.body, out); err != nil {
		return fmt.Errorf("%s: decode %d answer: %w", path, res.status, err)
	}
	return nil
}

func idPath(prefix string, id uint64) string { return prefix + "/" + strconv.FormatUint(id, 10) }
