package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Answer is a successful (below 400) answer to Write, read in full.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
	// OperationID is the operation the write started (X-Event-Operation-ID,
	// or its deprecated alias), 0 when none.
	OperationID uint64
	// Replayed: the server answered with the first response to this
	// Idempotency-Key instead of doing the work again.
	Replayed bool
}

// Decode decodes the answer's JSON body into out.
func (a *Answer) Decode(out any) error {
	if err := json.Unmarshal(a.Body, out); err != nil {
		return fmt.Errorf("decode %d answer: %w", a.Status, err)
	}
	return nil
}

// Write sends a write the typed methods do not cover (a PATCH, a DELETE, a
// refund, an order): method to path under the API base ("/events/7"),
// with body encoded as JSON (nil: no body) and idemKey as its
// Idempotency-Key ("" for none). It retries as the package documentation
// says; with a key, a repeat is answered by the first response, and a 409
// carrying Retry-After (the first request with the key still being
// handled, DESIGN §3) is retried after it. Other answers of 400 or more
// are an *Error.
func (c *Client) Write(ctx context.Context, method, path string, body any, idemKey string) (*Answer, error) {
	r := &request{method: method, path: path, header: http.Header{}}
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encode: %w", method, path, err)
		}
		r.body = raw
	}
	if idemKey != "" {
		r.header.Set(HeaderIdempotencyKey, idemKey)
	}
	res, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	cr, err := created(res, struct{}{})
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return &Answer{Status: res.status, Header: res.header, Body: res.body,
		OperationID: cr.OperationID, Replayed: strings.EqualFold(res.header.Get(HeaderReplayed), "true")}, nil
}
