package client

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Outbound webhooks: endpoints, deliveries, the feed, and a verifier for
// receivers (Standard Webhooks signatures).

// WebhookEndpoint is a URL of the company that receives signed deliveries.
type WebhookEndpoint struct {
	ID                  uint64     `json:"id"`
	URL                 string     `json:"url"`
	Events              []string   `json:"events"`
	Phases              []string   `json:"phases"`
	Description         string     `json:"description"`
	Enabled             bool       `json:"enabled"`
	DisabledReason      *string    `json:"disabled_reason"` // "gone" (410), "failing" (5 days)
	FailingSince        *time.Time `json:"failing_since"`
	PreviousSecretUntil *time.Time `json:"previous_secret_until"`
	CreatedAt           time.Time  `json:"created_at"`
	UpdatedAt           time.Time  `json:"updated_at"`
	// Secret is set only in the answer to a create or a rotation.
	Secret string `json:"secret,omitempty"`
}

// WebhookEndpointInput creates or changes an endpoint; nil fields are not
// sent (left as they are on a change).
type WebhookEndpointInput struct {
	URL         *string   `json:"url,omitempty"`
	Events      *[]string `json:"events,omitempty"`
	Phases      *[]string `json:"phases,omitempty"`
	Description *string   `json:"description,omitempty"`
	Enabled     *bool     `json:"enabled,omitempty"`
}

// WebhookDelivery is one event queued for one endpoint, and its attempts.
type WebhookDelivery struct {
	ID          uint64  `json:"id"`
	WebhookID   string  `json:"webhook_id"`
	EndpointID  uint64  `json:"endpoint_id"`
	Type        string  `json:"type"`
	OperationID *uint64 `json:"operation_id"`
	OrderID     *uint64 `json:"order_id"`
	Phase       *struct {
		ID   uint64 `json:"id"`
		Name string `json:"name"`
	} `json:"phase"`
	Version            uint64          `json:"version"`
	Status             string          `json:"status"` // pending, delivered, failed
	Attempts           int             `json:"attempts"`
	NextAttemptAt      *time.Time      `json:"next_attempt_at"`
	LastAttemptAt      *time.Time      `json:"last_attempt_at"`
	LastResponseStatus *int            `json:"last_response_status"`
	LastResponseBody   *string         `json:"last_response_body"`
	LastError          *string         `json:"last_error"`
	CreatedAt          time.Time       `json:"created_at"`
	FinishedAt         *time.Time      `json:"finished_at"`
	Payload            json.RawMessage `json:"payload"` // the feed only
	PayloadMissing     bool            `json:"payload_missing"`
}

// WebhookEvent is the body of a delivery.
type WebhookEvent struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Version   uint64    `json:"version"`
	Phase     *struct {
		ID   uint64 `json:"id"`
		Name string `json:"name"`
	} `json:"phase"`
	Data  json.RawMessage   `json:"data"`
	Links map[string]string `json:"links"`
}

// Operation decodes Data of an operation.* event.
func (e *WebhookEvent) Operation() (*Operation, error) {
	var op Operation
	return &op, json.Unmarshal(e.Data, &op)
}

// Order decodes Data of an order.* event.
func (e *WebhookEvent) Order() (*Order, error) {
	var o Order
	return &o, json.Unmarshal(e.Data, &o)
}

// CreateWebhookEndpoint creates an endpoint; the answer holds its secret,
// shown this once.
func (c *Client) CreateWebhookEndpoint(ctx context.Context, in WebhookEndpointInput) (*WebhookEndpoint, error) {
	var ep WebhookEndpoint
	if _, err := c.postJSON(ctx, "/webhook_endpoints", "webhook_endpoint", in, "", &ep); err != nil {
		return nil, err
	}
	return &ep, nil
}

// WebhookEndpoints lists the company's endpoints.
func (c *Client) WebhookEndpoints(ctx context.Context) ([]WebhookEndpoint, error) {
	var p Page[WebhookEndpoint]
	if err := c.getJSON(ctx, "/webhook_endpoints", nil, &p); err != nil {
		return nil, err
	}
	return p.Data, nil
}

// WebhookDeliveries lists an endpoint's deliveries, newest first.
func (c *Client) WebhookDeliveries(ctx context.Context, endpointID uint64, o ListOptions) (*Page[WebhookDelivery], error) {
	var p Page[WebhookDelivery]
	if err := c.getJSON(ctx, idPath("/webhook_endpoints", endpointID)+"/deliveries", o.query(), &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// DeliveriesFeed long-polls the company's deliveries (of endpoint
// endpointID only, unless 0) after cursor ("": from now on) for up to
// wait; it returns them with their payloads and the cursor to pass next
// time.
func (c *Client) DeliveriesFeed(ctx context.Context, endpointID uint64, cursor string, wait time.Duration) ([]WebhookDelivery, string, error) {
	q := url.Values{}
	if endpointID != 0 {
		q.Set("endpoint_id", strconv.FormatUint(endpointID, 10))
	}
	if cursor != "" {
		q.Set("page[cursor]", cursor)
	}
	q.Set("page[size]", "100")
	secs := min(max(int(math.Ceil(wait.Seconds())), 0), 60) // the server waits at most 60 s
	q.Set("wait", strconv.Itoa(secs))
	// The server may hold the answer for the whole wait: the try's timeout
	// is the client's plus the wait, or every quiet poll would time out.
	r := &request{method: http.MethodGet, path: "/webhook_deliveries", query: q, hold: time.Duration(secs) * time.Second}
	res, err := c.do(ctx, r)
	if err != nil {
		return nil, cursor, err
	}
	var p Page[WebhookDelivery]
	if err := decode(res, r.path, &p); err != nil {
		return nil, cursor, err
	}
	next := cursor
	if p.Meta.Page.NextCursor != nil {
		next = *p.Meta.Page.NextCursor
	}
	return p.Data, next, nil
}

// Webhook verification errors.
var (
	ErrWebhookHeaders   = errors.New("webhook: webhook-id, webhook-timestamp or webhook-signature is missing")
	ErrWebhookTimestamp = errors.New("webhook: timestamp outside the tolerance")
	ErrWebhookSignature = errors.New("webhook: no signature matches")
)

// WebhookTolerance is how far a delivery's timestamp may be from now.
const WebhookTolerance = 5 * time.Minute

// Verifier checks incoming deliveries against an endpoint's secret
// ("whsec_..."). Now is the clock (time.Now when nil).
type Verifier struct {
	key []byte
	Now func() time.Time
}

// NewVerifier decodes a whsec_ secret.
func NewVerifier(secret string) (*Verifier, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || len(k) == 0 {
		return nil, errors.New("webhook: the secret is not whsec_ followed by base64")
	}
	return &Verifier{key: k}, nil
}

// Verify checks a delivery's headers and raw body: the timestamp within
// WebhookTolerance and one of the signatures made with the secret. Verify
// before decoding the body, and deduplicate on webhook-id.
func (v *Verifier) Verify(h http.Header, body []byte) error {
	id, tsText, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || tsText == "" || sigs == "" {
		return ErrWebhookHeaders
	}
	sec, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return ErrWebhookTimestamp
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	if d := now().Sub(time.Unix(sec, 0)); d > WebhookTolerance || d < -WebhookTolerance {
		return ErrWebhookTimestamp
	}
	mac := hmac.New(sha256.New, v.key)
	fmt.Fprintf(mac, "%s.%s.", id, tsText)
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range strings.Fields(sigs) {
		ver, b64, ok := strings.Cut(s, ",")
		if !ok || ver != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrWebhookSignature
}

// Sign signs body as a sender would, for forwarding (webhooks listen) and
// tests of receivers.
func (v *Verifier) Sign(id string, at time.Time, body []byte) http.Header {
	ts := strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, v.key)
	fmt.Fprintf(mac, "%s.%s.", id, ts)
	mac.Write(body)
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", ts)
	h.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	return h
}
