// The Admin GraphQL client. It speaks the real API (DESIGN §7, SHOPIFY.md):
// one endpoint per shop, the access token in X-Shopify-Access-Token, typed
// userErrors, throttling read from extensions.cost and paced per shop
// before it is hit, 429 with Retry-After, 5xx and transport errors retried
// with jittered backoff under a deadline. What the client cannot absorb
// quickly it hands to the engine as a transient *engine.Error, so that the
// phase retry (attempts and last_error visible on the phase) takes over.

package shopify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"eventops/engine"
)

// APIVersion is the Admin API version the client speaks.
const APIVersion = "2026-10"

// maxAnswer bounds how much of an answer the client reads.
const maxAnswer = 16 << 20

// Client calls the Admin GraphQL API of one shop. It is cheap to build; the
// pacing state lives in the shop's bucket, shared by every client of that
// shop.
type Client struct {
	endpoint string
	token    engine.Secret
	http     *http.Client
	bucket   *bucket
	policy   ClientPolicy
	log      *slog.Logger
	jitter   func() float64
	sleep    func(ctx context.Context, d time.Duration) bool
	metrics  CallMetrics

	// source, when set, gives the token (see tokens.go): got at the first
	// call, and once more after a 401.
	source  renewer
	tokenMu sync.Mutex
}

// Call is one GraphQL request.
type Call struct {
	// Name is the operation's name, for logs and pacing estimates.
	Name string
	// Query is the document (see graphql.go).
	Query     string
	Variables map[string]any
	// Resendable says the call may be sent again when its answer was lost
	// (a dropped connection, a timeout, a 5xx): queries, upserts by handle,
	// absolute sets with compare-and-set, mutations with an @idempotent
	// key. Other mutations are never re-sent blindly: the error goes back
	// to the caller, which reads first.
	Resendable bool
	// Cost is the expected cost in points, for pacing before the shop
	// throttles (0: what the shop reported for this Name last time, or 10).
	Cost float64
}

// UserError is one entry of a mutation payload's userErrors.
type UserError struct {
	Field        []string `json:"field"`
	Message      string   `json:"message"`
	Code         string   `json:"code,omitempty"`
	ElementIndex *int     `json:"elementIndex,omitempty"`
}

// UserErrors is a mutation's refusal: a permanent business error.
type UserErrors []UserError

func (u UserErrors) Error() string {
	parts := make([]string, 0, len(u))
	for _, e := range u {
		s := e.Message
		if len(e.Field) > 0 {
			s = strings.Join(e.Field, ".") + ": " + s
		}
		if e.Code != "" {
			s += " (" + e.Code + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// Has reports whether one of the errors carries code.
func (u UserErrors) Has(code string) bool {
	for _, e := range u {
		if e.Code == code {
			return true
		}
	}
	return false
}

// GraphQLError is one top-level entry of errors[].
type GraphQLError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path,omitempty"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

// Code is extensions.code ("THROTTLED", "ACCESS_DENIED", ...).
func (e GraphQLError) Code() string {
	c, _ := e.Extensions["code"].(string)
	return c
}

// GraphQLErrors are the top-level errors of an answer that the client does
// not retry (validation, access, cost): permanent for the caller.
type GraphQLErrors []GraphQLError

func (g GraphQLErrors) Error() string {
	parts := make([]string, 0, len(g))
	for _, e := range g {
		s := e.Message
		if c := e.Code(); c != "" {
			s += " (" + c + ")"
		}
		parts = append(parts, s)
	}
	return "graphql: " + strings.Join(parts, "; ")
}

// Cost is extensions.cost of an answer.
type Cost struct {
	RequestedQueryCost float64  `json:"requestedQueryCost"`
	ActualQueryCost    *float64 `json:"actualQueryCost"`
	ThrottleStatus     struct {
		MaximumAvailable   float64 `json:"maximumAvailable"`
		CurrentlyAvailable float64 `json:"currentlyAvailable"`
		RestoreRate        float64 `json:"restoreRate"`
	} `json:"throttleStatus"`
}

// answer is an answer's envelope. Data holds the caller's out (a pointer),
// so that data is decoded once, straight into it (see hasData).
type answer struct {
	Data       any            `json:"data"`
	Errors     []GraphQLError `json:"errors"`
	Extensions struct {
		Cost *Cost `json:"cost"`
	} `json:"extensions"`
}

// Do sends c and decodes the answer's data into out (nil: ignore it). It
// returns UserErrors never (payloads are the caller's to read), GraphQLErrors
// for a refused document, and *engine.Error for auth failures (permanent
// SHOPIFY_AUTH_REJECTED) and for what it could not absorb (transient
// SHOPIFY_THROTTLED_EXHAUSTED or SHOPIFY_UNAVAILABLE).
func (c *Client) Do(ctx context.Context, call Call, out any) error {
	body, err := json.Marshal(struct {
		Query     string         `json:"query"`
		Variables map[string]any `json:"variables,omitempty"`
	}{call.Query, call.Variables})
	if err != nil {
		return fmt.Errorf("encode %s: %w", call.Name, err)
	}
	deadline := time.Now().Add(c.policy.Deadline)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	token, err := c.currentToken(ctx)
	if err != nil {
		return err
	}
	var lastErr error
	throttled, renewed := false, false
	for attempt := 1; ; attempt++ {
		if err := c.bucket.wait(ctx, c.estimate(call)); err != nil {
			if ctx.Err() != nil && ctxParentDone(ctx, deadline) {
				return ctx.Err()
			}
			return engine.Transientf(engine.CodeShopifyThrottledExhausted,
				"%s: the shop's cost budget did not recover before the deadline", call.Name)
		}
		res := c.send(ctx, call, body, out, token)
		if errors.Is(res.err, engine.ErrLeaseExpired) {
			return res.err // nothing sent: the attempt waits for the lease (engine/attempt.go)
		}
		c.metrics.CallDone(call.Name, res.status, res.cost)
		if res.throttled {
			c.metrics.Throttled()
		}
		if res.err == nil {
			return nil
		}
		if res.unauthorized && c.source != nil && !renewed {
			// The token expired or was replaced early: get another,
			// once, and send again (nothing was applied).
			renewed = true
			if token, err = c.renewToken(ctx, token); err != nil {
				return err
			}
			attempt--
			continue
		}
		if res.permanent {
			return res.err
		}
		if ctxParentDone(ctx, deadline) {
			return ctx.Err()
		}
		lastErr = res.err
		if res.lost && !call.Resendable {
			// The shop may have applied it: the caller reads first.
			return engine.Transientf(engine.CodeShopifyUnavailable,
				"%s: the answer was lost (%v); not re-sent, it will be read back first", call.Name, res.err)
		}
		throttled = res.throttled
		wait := res.wait
		if wait <= 0 {
			wait = c.backoff(attempt)
		}
		if attempt >= c.policy.Attempts || time.Now().Add(wait).After(deadline) {
			break
		}
		c.log.Debug("shopify call retried", "call", call.Name, "attempt", attempt, "wait", wait, "err", res.err)
		if !c.sleep(ctx, wait) {
			if ctxParentDone(ctx, deadline) {
				return ctx.Err()
			}
			break
		}
	}
	if throttled {
		return engine.Transientf(engine.CodeShopifyThrottledExhausted, "%s: %v", call.Name, lastErr)
	}
	return engine.Transientf(engine.CodeShopifyUnavailable, "%s: %v", call.Name, lastErr)
}

// currentToken is the token to send: the fixed one, or the source's.
func (c *Client) currentToken(ctx context.Context) (engine.Secret, error) {
	if c.source == nil {
		return c.token, nil
	}
	c.tokenMu.Lock()
	defer c.tokenMu.Unlock()
	if c.token == "" {
		t, err := c.source(ctx, "")
		if err != nil {
			return "", err
		}
		c.token = t
	}
	return c.token, nil
}

// renewToken replaces a token the shop refused (unless another call of
// this client did already).
func (c *Client) renewToken(ctx context.Context, stale engine.Secret) (engine.Secret, error) {
	c.tokenMu.Lock()
	defer c.tokenMu.Unlock()
	if c.token != stale && c.token != "" {
		return c.token, nil
	}
	t, err := c.source(ctx, stale)
	if err != nil {
		return "", err
	}
	c.token = t
	return t, nil
}

// ctxParentDone reports whether ctx ended for another reason than the
// call's own deadline (the phase was cancelled or the engine is stopping).
func ctxParentDone(ctx context.Context, deadline time.Time) bool {
	return ctx.Err() != nil && time.Now().Before(deadline)
}

// result of one exchange.
type result struct {
	status       string  // for metrics: "ok", "throttled", "http_5xx", ...
	cost         float64 // the shop's actualQueryCost (0: not said)
	err          error
	permanent    bool          // do not retry
	lost         bool          // the shop may have applied a mutation
	throttled    bool          // THROTTLED or 429
	unauthorized bool          // HTTP 401: the token is not (or no longer) valid
	wait         time.Duration // how long the shop asked us to wait
}

// send makes one exchange, decoding the answer's data into out (nil:
// skipped).
func (c *Client) send(ctx context.Context, call Call, body []byte, out any, token engine.Secret) result {
	ctx, cancel := context.WithTimeout(ctx, c.policy.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return result{status: "request", err: err, permanent: true}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Shopify-Access-Token", token.Reveal())
	// A run whose lease may have lapsed (a node frozen, or cut off from
	// the database) must not act on the shop: another node may own the
	// operation now. Nothing was sent, so nothing is lost.
	if err := engine.CheckLease(ctx); err != nil {
		return result{status: "lease", err: err}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return result{status: "transport", err: transportError(err), lost: true}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return result{status: "transport", err: transportError(err), lost: true}
	}
	reqID := resp.Header.Get("X-Request-Id")
	if v := resp.Header.Get("X-Shopify-API-Version"); v != "" && v != APIVersion {
		c.bucket.warnVersion(c.log, v)
	}
	c.log.Debug("shopify call", "call", call.Name, "status", resp.StatusCode, "request_id", reqID)

	switch s := resp.StatusCode; {
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		return result{status: "auth", permanent: true, unauthorized: s == http.StatusUnauthorized,
			err: engine.Errorf(engine.CodeShopifyAuthRejected, "the shop refused the access token (HTTP %d)", s)}
	case s == http.StatusPaymentRequired || s == http.StatusLocked:
		what := "frozen (unpaid)"
		if s == http.StatusLocked {
			what = "locked"
		}
		return result{status: "http_" + strconv.Itoa(s), permanent: true, err: engine.Errorf(engine.CodeShopifyUnavailable,
			"the shop is %s (HTTP %d): the merchant must act before it can be called", what, s)}
	case s == http.StatusTooManyRequests:
		return result{status: "http_429", throttled: true, wait: retryAfter(resp.Header.Get("Retry-After")),
			err: fmt.Errorf("HTTP 429 (request %s)", reqID)}
	case s == http.StatusNotFound:
		return result{status: "http_404", permanent: true, err: engine.Errorf(engine.CodeShopifyUnavailable,
			"the shop's API was not found (HTTP 404): check the shop domain")}
	case s >= 500:
		return result{status: "http_5xx", lost: true, err: fmt.Errorf("HTTP %d (request %s)", s, reqID)}
	case s != http.StatusOK:
		return result{status: "http_other", permanent: true, err: engine.Errorf(engine.CodeShopifyUnavailable,
			"unexpected HTTP %d from the shop (request %s)", s, reqID)}
	}

	a := answer{Data: out}
	if out == nil {
		a.Data = &json.RawMessage{} // read past it
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return result{status: "undecodable", permanent: true, err: fmt.Errorf("decode %s: %w", call.Name, err)}
		}
		// A 200 that is not JSON is a proxy or a cut-off answer.
		return result{status: "unreadable", lost: true, err: fmt.Errorf("unreadable answer (request %s): %v", reqID, err)}
	}
	var cost float64
	if a.Extensions.Cost != nil {
		c.bucket.observe(call.Name, a.Extensions.Cost)
		if a.Extensions.Cost.ActualQueryCost != nil {
			cost = *a.Extensions.Cost.ActualQueryCost
		}
	}
	if len(a.Errors) > 0 {
		for _, e := range a.Errors {
			switch e.Code() {
			case "THROTTLED":
				return result{status: "throttled", throttled: true, wait: c.bucket.throttleWait(a.Extensions.Cost, c.estimate(call)),
					err: fmt.Errorf("throttled by the shop (request %s)", reqID)}
			case "INTERNAL_SERVER_ERROR":
				return result{status: "internal_error", lost: true, err: fmt.Errorf("shop internal error (request %s): %s", reqID, e.Message)}
			case "ACCESS_DENIED", "UNAUTHORIZED", "FORBIDDEN":
				return result{status: "auth", permanent: true, err: engine.Errorf(engine.CodeShopifyAuthRejected,
					"the shop denied access: %s", e.Message)}
			}
		}
		if !hasData(raw) {
			return result{status: "graphql_errors", cost: cost, permanent: true, err: GraphQLErrors(a.Errors)}
		}
		// Partial data beside errors (a field resolver failed): the
		// payload is the caller's to judge, the errors are logged.
		c.log.Warn("shopify answered with errors beside data", "call", call.Name, "request_id", reqID,
			"errors", GraphQLErrors(a.Errors).Error())
	}
	return result{status: "ok", cost: cost}
}

// hasData reports whether an answer carries data (not absent, not null):
// read again only for answers with errors, which are rare.
func hasData(raw []byte) bool {
	var a struct {
		Data json.RawMessage `json:"data"`
	}
	return json.Unmarshal(raw, &a) == nil && len(a.Data) > 0 && string(a.Data) != "null"
}

func transportError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		// Never echo the URL's query or anything beyond the operation.
		err = ue.Err
	}
	return fmt.Errorf("transport: %w", err)
}

func (c *Client) estimate(call Call) float64 {
	if call.Cost > 0 {
		return call.Cost
	}
	return c.bucket.estimate(call.Name)
}

// BaseURL resolves where a shop's Admin API lives: a sandbox shop under the
// sandbox's URL, a bare myshopify domain over HTTPS, a full URL as given.
func BaseURL(shop *engine.Shop, sandboxURL string) (string, error) {
	if shop == nil {
		return "", errors.New("no shop")
	}
	d := strings.TrimSpace(shop.Domain)
	if shop.Sandbox {
		if sandboxURL == "" {
			return "", errors.New("a sandbox shop, and this server has no sandbox (" + engine.NoSandboxMessage + ")")
		}
		return strings.TrimRight(sandboxURL, "/") + "/sandbox/shopify/" + url.PathEscape(d), nil
	}
	if strings.HasPrefix(d, "http://") || strings.HasPrefix(d, "https://") {
		u, err := url.Parse(d)
		if err != nil || u.Host == "" {
			return "", fmt.Errorf("shop URL %q is not a URL", d)
		}
		return strings.TrimRight(d, "/"), nil
	}
	if d == "" || strings.ContainsAny(d, "/ ?#") {
		return "", fmt.Errorf("shop domain %q is not a domain", d)
	}
	return "https://" + d, nil
}

// Endpoint is the GraphQL endpoint under a base URL.
func Endpoint(base string) string {
	return base + "/admin/api/" + APIVersion + "/graphql.json"
}
