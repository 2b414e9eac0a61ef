package outbound

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"eventops/engine"
)

// Timeout bounds one attempt: a 2xx within it is a success.
const Timeout = 10 * time.Second

// Render writes the body of a delivery (web renders the resource as the API
// returns it).
type Render func(m *engine.WebhookMessage) ([]byte, error)

// Options configure a Sender.
type Options struct {
	Guard  *Guard
	Render Render
	// TLS is the client's TLS configuration (nil: the system's roots);
	// tests trust their local receiver's certificate with it.
	TLS *tls.Config
	// Timeout of an attempt (default Timeout).
	Timeout time.Duration
	// UserAgent names the sender (default "eventops-webhooks").
	UserAgent string
}

// Sender sends deliveries over HTTP. It implements engine.WebhookSender.
type Sender struct {
	opt    Options
	client *http.Client
}

var _ engine.WebhookSender = (*Sender)(nil)
var _ engine.URLGuard = (*Guard)(nil)

// New builds a Sender.
func New(opt Options) *Sender {
	if opt.Guard == nil {
		opt.Guard = &Guard{}
	}
	if opt.Timeout <= 0 {
		opt.Timeout = Timeout
	}
	if opt.UserAgent == "" {
		opt.UserAgent = "eventops-webhooks"
	}
	d := &net.Dialer{Timeout: opt.Timeout, KeepAlive: 30 * time.Second, Control: opt.Guard.control}
	tr := &http.Transport{
		DialContext:           opt.Guard.dialContext(d),
		TLSClientConfig:       opt.TLS,
		TLSHandshakeTimeout:   opt.Timeout,
		ResponseHeaderTimeout: opt.Timeout,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
		Proxy:                 nil, // a proxy would connect where the guard cannot see
	}
	return &Sender{opt: opt, client: &http.Client{
		Transport: tr,
		Timeout:   opt.Timeout,
		// Redirects are not followed: a 3xx is the answer (a failure).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// CloseIdle closes kept-alive connections (at shutdown).
func (s *Sender) CloseIdle() { s.client.CloseIdleConnections() }

// Send makes one attempt: the body rendered now, signed for this attempt's
// timestamp with every secret in m.Secrets.
func (s *Sender) Send(ctx context.Context, m *engine.WebhookMessage) engine.WebhookResult {
	body, err := s.opt.Render(m)
	if err != nil {
		return engine.WebhookResult{Err: fmt.Errorf("render: %w", err)}
	}
	id := m.Delivery.MessageID()
	ts := m.At.Unix()
	sig, err := SignatureHeader(m.Secrets, id, ts, body)
	if err != nil {
		return engine.WebhookResult{Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.Endpoint.URL, bytes.NewReader(body))
	if err != nil {
		return engine.WebhookResult{Err: err}
	}
	if !s.opt.Guard.AllowPrivate && req.URL.Scheme != "https" {
		return engine.WebhookResult{Err: fmt.Errorf("%s: must use https: %w", req.URL.Scheme, ErrRefusedAddress)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", s.opt.UserAgent)
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := s.client.Do(req)
	if err != nil {
		return engine.WebhookResult{Err: cleanErr(err)}
	}
	defer resp.Body.Close()
	kept, _ := io.ReadAll(io.LimitReader(resp.Body, engine.MaxDeliveryResponse))
	return engine.WebhookResult{Status: resp.StatusCode, Body: string(kept), Gone: resp.StatusCode == http.StatusGone}
}

// cleanErr drops the URL from a client error (the log already names the
// delivery; a URL may carry a token in its query).
func cleanErr(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

// Key decodes a "whsec_..." secret into its HMAC key.
func Key(secret engine.Secret) ([]byte, error) {
	s := strings.TrimPrefix(secret.Reveal(), "whsec_")
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("webhook secret is not whsec_ followed by base64")
	}
	return k, nil
}

// Sign is one signature: "v1," and the base64 HMAC-SHA256 of
// "id.timestamp.body" under the secret's key.
func Sign(secret engine.Secret, id string, ts int64, body []byte) (string, error) {
	k, err := Key(secret)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, k)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write(strconv.AppendInt(nil, ts, 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// SignatureHeader is the webhook-signature value: one signature per
// secret, space-separated (a rotated-out secret signs beside the new one).
func SignatureHeader(secrets []engine.Secret, id string, ts int64, body []byte) (string, error) {
	if len(secrets) == 0 {
		return "", errors.New("no signing secret")
	}
	sigs := make([]string, len(secrets))
	for i, s := range secrets {
		var err error
		if sigs[i], err = Sign(s, id, ts, body); err != nil {
			return "", err
		}
	}
	return strings.Join(sigs, " "), nil
}
