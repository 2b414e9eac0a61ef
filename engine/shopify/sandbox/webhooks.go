package sandbox

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Webhooks. Each event becomes one delivery per target: every subscription
// to its topic, or, without any, Options.WebhookURL + "/" + topic. A
// delivery is stored with the change that caused it (so it survives a crash
// of the sandbox) and sent after the commit by the shop's delivery
// goroutine, in order; a failed delivery (transport error or non-2xx) is
// retried with doubling backoff up to Options.WebhookAttempts times (with
// Options.WebhookRetryScale set: on Shopify's schedule, see retryDelay),
// and keeps its X-Shopify-Webhook-Id across retries and Redeliver. A
// drop_webhooks fault rule makes the shop give up on a topic's deliveries
// without sending them.

const (
	maxDeliveriesKept = 1000
	latestVersion     = "2026-10"
)

// Delivery is one webhook delivery as the deliveries log shows it.
type Delivery struct {
	WebhookID  string          `json:"webhook_id"`
	EventID    string          `json:"event_id"`
	Topic      string          `json:"topic"`
	URL        string          `json:"url"`
	APIVersion string          `json:"api_version"`
	Status     string          `json:"status"` // pending, delivered, failed
	Attempts   int             `json:"attempts"`
	LastStatus int             `json:"last_status,omitempty"`
	LastError  string          `json:"last_error,omitempty"`
	Body       json.RawMessage `json:"body"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
}

// uuidFrom derives a stable UUID-shaped id from its parts.
func uuidFrom(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "/")))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// queueWebhook records the deliveries of an event on topic (GraphQL
// spelling, e.g. ORDERS_CREATE); they are sent once the change commits.
func (x *execCtx) queueWebhook(topic string, body any) {
	st := x.st
	rest := webhookTopics[topic]
	raw, err := json.Marshal(body)
	if err != nil || rest == "" {
		x.sb.log.Error("sandbox webhook not queued", "topic", topic, "err", err)
		return
	}
	type target struct{ url, version string }
	var targets []target
	for _, id := range sortedKeys(st.Webhooks) {
		if w := st.Webhooks[id]; w.Topic == topic {
			targets = append(targets, target{w.URI, w.APIVersion})
		}
	}
	if len(targets) == 0 && x.sb.opts.WebhookURL != "" {
		targets = append(targets, target{strings.TrimRight(x.sb.opts.WebhookURL, "/") + "/" + rest, latestVersion})
	}
	if len(targets) == 0 {
		return
	}
	var eventID string
	for _, t := range targets {
		seq := st.next(seqDelivery)
		if eventID == "" {
			eventID = uuidFrom(st.Meta.Name, "event", strconv.FormatInt(seq, 10))
		}
		d := &delivery{
			Seq:        seq,
			WebhookID:  uuidFrom(st.Meta.Name, "webhook", strconv.FormatInt(seq, 10)),
			EventID:    eventID,
			Topic:      rest,
			URL:        t.url,
			APIVersion: t.version,
			Body:       raw,
			Status:     "pending",
			CreatedAt:  x.now,
			UpdatedAt:  x.now,
		}
		st.Deliveries[seq] = d
		st.markID(kindDelivery, seq)
		x.deliver = append(x.deliver, d)
	}
	pruneDeliveries(st)
}

// pruneDeliveries forgets the oldest finished deliveries past the limit.
func pruneDeliveries(st *shopState) {
	if len(st.Deliveries) <= maxDeliveriesKept {
		return
	}
	for _, seq := range sortedKeys(st.Deliveries) {
		if len(st.Deliveries) <= maxDeliveriesKept*9/10 {
			return
		}
		if d := st.Deliveries[seq]; d.Status != "pending" {
			delete(st.Deliveries, seq)
			st.markID(kindDelivery, seq)
		}
	}
}

// deliveryQueue sends one shop's webhooks, one at a time, in order.
type deliveryQueue struct {
	s       *Sandbox
	sh      *shop
	mu      sync.Mutex
	pending []int64
	wake    chan struct{}
}

// newDeliveryQueue starts the shop's delivery goroutine; s.mu is held (or
// New is running), so Close cannot be waiting yet.
func newDeliveryQueue(s *Sandbox, sh *shop) *deliveryQueue {
	q := &deliveryQueue{s: s, sh: sh, wake: make(chan struct{}, 1)}
	s.wg.Add(1)
	go q.run()
	return q
}

func (q *deliveryQueue) push(seqs ...int64) {
	if q.s.ctx.Err() != nil || len(seqs) == 0 {
		return
	}
	q.mu.Lock()
	q.pending = append(q.pending, seqs...)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *deliveryQueue) pop() (int64, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) == 0 {
		return 0, false
	}
	seq := q.pending[0]
	q.pending = q.pending[1:]
	return seq, true
}

func (q *deliveryQueue) run() {
	defer q.s.wg.Done()
	for {
		seq, ok := q.pop()
		if !ok {
			select {
			case <-q.wake:
				continue
			case <-q.s.ctx.Done():
				return
			}
		}
		q.attempt(seq)
	}
}

// attempt sends a pending delivery once and records the outcome.
func (q *deliveryQueue) attempt(seq int64) {
	s, sh := q.s, q.sh
	sh.mu.Lock()
	d := sh.st.Deliveries[seq]
	if d == nil || d.Status != "pending" {
		sh.mu.Unlock()
		return
	}
	if sh.takeDrop(d.Topic) {
		d.Status, d.LastError, d.UpdatedAt = "failed", "dropped by a drop_webhooks fault rule", s.now().UTC()
		sh.st.markID(kindDelivery, seq)
		if cerr := s.commit(sh); cerr != nil {
			s.log.Error("sandbox delivery state not saved", "err", cerr)
		}
		sh.mu.Unlock()
		s.log.Info("sandbox webhook dropped", "shop", sh.st.Meta.Name, "topic", d.Topic)
		return
	}
	msg := *d
	secret, domain := s.webhookSecret(sh.st), sh.st.domain()
	sh.mu.Unlock()

	status, err := s.post(s.ctx, &msg, secret, domain)
	if err != nil && s.ctx.Err() != nil {
		return // cut short by Close: it stays pending and resumes at the next New
	}
	retry, attempts := s.recordAttempt(sh, seq, status, err)
	if retry {
		time.AfterFunc(s.retryDelay(attempts), func() { q.push(seq) })
	}
}

// Shopify's retry schedule: a failed delivery is retried 8 times over 4
// hours with exponential backoff (shopify.dev changelog, "Updates to
// webhook retry mechanism", September 2024). Modelled as 9 attempts whose
// waits double from 4 h / 255 (about 56 s: 56 s, 113 s, ... 2 h 0 min,
// summing to 4 h), each multiplied by Options.WebhookRetryScale.
const (
	shopifyWebhookAttempts = 9
	shopifyRetryWindow     = 4 * time.Hour
)

// retryDelay is the wait before the next attempt of a delivery tried
// attempts times.
func (s *Sandbox) retryDelay(attempts int) time.Duration {
	if sc := s.opts.WebhookRetryScale; sc > 0 {
		first := float64(shopifyRetryWindow) / float64(int(1)<<(shopifyWebhookAttempts-1)-1)
		d := time.Duration(first * float64(int(1)<<(attempts-1)) * sc)
		return max(d, time.Millisecond)
	}
	delay := s.opts.WebhookBackoff << (attempts - 1)
	if delay > time.Minute || delay <= 0 {
		delay = time.Minute
	}
	return delay
}

// recordAttempt stores an attempt's outcome; it reports whether to retry.
func (s *Sandbox) recordAttempt(sh *shop, seq int64, status int, err error) (bool, int) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	d := sh.st.Deliveries[seq]
	if d == nil {
		return false, 0
	}
	d.Attempts++
	d.LastStatus = status
	d.LastError = ""
	d.UpdatedAt = s.now().UTC()
	switch {
	case err == nil && status >= 200 && status < 300:
		d.Status = "delivered"
	case err != nil:
		d.LastError = err.Error()
	default:
		d.LastError = fmt.Sprintf("HTTP %d", status)
	}
	if d.Status == "pending" && d.Attempts >= s.opts.WebhookAttempts {
		d.Status = "failed"
		s.log.Warn("sandbox webhook gave up", "shop", sh.st.Meta.Name, "topic", d.Topic, "url", d.URL, "attempts", d.Attempts, "err", d.LastError)
	}
	sh.st.markID(kindDelivery, seq)
	if cerr := s.commit(sh); cerr != nil {
		s.log.Error("sandbox delivery state not saved", "err", cerr)
	}
	return d.Status == "pending", d.Attempts
}

// post sends one delivery, signed with the shop's webhook secret.
func (s *Sandbox) post(ctx context.Context, d *delivery, secret, domain string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Body))
	if err != nil {
		return 0, err
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(d.Body)
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "Shopify-Captain-Hook")
	h.Set("X-Shopify-Topic", d.Topic)
	h.Set("X-Shopify-Shop-Domain", domain)
	h.Set("X-Shopify-Webhook-Id", d.WebhookID)
	h.Set("X-Shopify-Event-Id", d.EventID)
	h.Set("X-Shopify-Triggered-At", d.CreatedAt.UTC().Format(time.RFC3339Nano))
	h.Set("X-Shopify-API-Version", d.APIVersion)
	h.Set("X-Shopify-Hmac-Sha256", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, nil
}

// enqueue hands committed deliveries to the shop's goroutine.
func (s *Sandbox) enqueue(sh *shop, ds []*delivery) {
	seqs := make([]int64, len(ds))
	for i, d := range ds {
		seqs[i] = d.Seq
	}
	sh.queue.push(seqs...)
}

// resumeDeliveries queues what was still pending when the file was closed.
func (s *Sandbox) resumeDeliveries(sh *shop) {
	sh.mu.Lock()
	var seqs []int64
	for _, seq := range sortedKeys(sh.st.Deliveries) {
		if sh.st.Deliveries[seq].Status == "pending" {
			seqs = append(seqs, seq)
		}
	}
	sh.mu.Unlock()
	sh.queue.push(seqs...)
}

// Deliveries lists a shop's webhook deliveries, oldest first (the most
// recent 1,000 finished ones are kept).
func (s *Sandbox) Deliveries(shopName string) ([]Delivery, error) {
	sh, err := s.shop(shopName)
	if err != nil {
		return nil, err
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	out := make([]Delivery, 0, len(sh.st.Deliveries))
	for _, seq := range sortedKeys(sh.st.Deliveries) {
		out = append(out, deliveryView(sh.st.Deliveries[seq]))
	}
	return out, nil
}

func deliveryView(d *delivery) Delivery {
	return Delivery{
		WebhookID: d.WebhookID, EventID: d.EventID, Topic: d.Topic, URL: d.URL, APIVersion: d.APIVersion,
		Status: d.Status, Attempts: d.Attempts, LastStatus: d.LastStatus, LastError: d.LastError,
		Body: d.Body, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
	}
}

// Redeliver sends a delivery again, now, with the same X-Shopify-Webhook-Id
// and body, as Shopify does when it retries (tests of duplicate delivery).
// It returns an error unless the receiver answered 2xx.
func (s *Sandbox) Redeliver(ctx context.Context, shopName, webhookID string) error {
	sh, err := s.shop(shopName)
	if err != nil {
		return err
	}
	sh.mu.Lock()
	var found *delivery
	for _, d := range sh.st.Deliveries {
		if d.WebhookID == webhookID {
			found = d
		}
	}
	if found == nil {
		sh.mu.Unlock()
		return fmt.Errorf("%w: webhook %s", ErrNotFound, webhookID)
	}
	msg := *found
	secret, domain := s.webhookSecret(sh.st), sh.st.domain()
	sh.mu.Unlock()

	status, err := s.post(ctx, &msg, secret, domain)
	if err == nil && (status < 200 || status >= 300) {
		err = fmt.Errorf("receiver answered HTTP %d", status)
	}
	sh.mu.Lock()
	if d := sh.st.Deliveries[msg.Seq]; d != nil {
		d.Attempts++
		d.LastStatus = status
		d.UpdatedAt = s.now().UTC()
		if err == nil {
			d.Status, d.LastError = "delivered", ""
		} else {
			d.LastError = err.Error()
		}
		sh.st.markID(kindDelivery, d.Seq)
		if cerr := s.commit(sh); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}
	sh.mu.Unlock()
	return err
}
