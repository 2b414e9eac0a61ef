package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"eventops/web/client"
)

// `eventops webhooks listen` streams a company's webhook deliveries to a
// local process during development, as `stripe listen` does: it long-polls
// the deliveries feed of the API (no public URL needed) and forwards each
// payload to --forward-to, signed with a secret of its own that it prints
// at start (the local receiver verifies with it). The API key comes from
// EVENTOPS_TOKEN, never from a flag.

const webhooksListenUsage = `webhooks listen --url URL --forward-to http://localhost:PORT/path [--endpoint ID]

The feed lists the deliveries queued for the company's webhook endpoints:
the company needs at least one enabled endpoint subscribed to the events
to see. An event is queued once per endpoint that receives it, so with
several endpoints it is forwarded once for each: --endpoint narrows the
feed to one. The key (scope read) comes from EVENTOPS_TOKEN.`

func cmdWebhooksListen(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("webhooks listen", webhooksListenUsage)
	fs.SetOutput(stderr)
	base := fs.String("url", "http://127.0.0.1:8080", "the eventops server's base URL")
	forward := fs.String("forward-to", "", "the local URL each delivery is POSTed to")
	endpoint := fs.Uint64("endpoint", 0, "forward only this endpoint's deliveries (default: every endpoint's)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if u, err := url.Parse(*forward); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintln(stderr, "eventops webhooks listen: --forward-to must be an http(s) URL, e.g. http://localhost:3000/webhooks")
		fmt.Fprintln(stderr)
		fs.Usage()
		return errUsage
	}
	token := strings.TrimSpace(os.Getenv("EVENTOPS_TOKEN"))
	if token == "" {
		return errors.New("no API key: set EVENTOPS_TOKEN (never a flag: flags show in process lists)")
	}
	c, err := client.New(*base, token, client.WithUserAgent("eventops-webhooks-listen"))
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return listen(ctx, c, *endpoint, *forward, stdout, stderr)
}

// listen forwards the feed until ctx ends. Each delivery is forwarded
// once per run, signed by the listener's own secret with the delivery's
// webhook-id; a local receiver that fails is told on stdout, not retried
// (the endpoints' own deliveries carry on independently).
func listen(ctx context.Context, c *client.Client, endpoint uint64, forward string, stdout, stderr io.Writer) error {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
	signer, err := client.NewVerifier(secret)
	if err != nil {
		return err
	}
	if eps, err := c.WebhookEndpoints(ctx); err == nil {
		switch n := enabled(eps); {
		case n == 0:
			fmt.Fprintln(stderr, "note: the company has no enabled webhook endpoint, so nothing is queued to forward; create one (POST /api/v2/webhook_endpoints)")
		case n > 1 && endpoint == 0:
			fmt.Fprintf(stderr, "note: the company has %d enabled webhook endpoints and an event is forwarded once for each that receives it; pass --endpoint ID to follow one\n", n)
		}
	}
	fmt.Fprintf(stdout, "Forwarding webhooks to %s\nSigning secret of this listener (verify with it): %s\n", forward, secret)
	hc := &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	cursor := ""
	for ctx.Err() == nil {
		ds, next, err := c.DeliveriesFeed(ctx, endpoint, cursor, 30*time.Second)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			fmt.Fprintf(stderr, "feed: %v (retrying)\n", err)
			select {
			case <-ctx.Done():
			case <-time.After(2 * time.Second):
			}
			continue
		}
		cursor = next
		for _, d := range ds {
			if d.PayloadMissing || len(d.Payload) == 0 {
				fmt.Fprintf(stdout, "%s  %-28s %s  skipped: the resource was pruned\n", time.Now().Format(time.TimeOnly), d.Type, d.WebhookID)
				continue
			}
			status := forwardOne(ctx, hc, forward, signer, &d)
			fmt.Fprintf(stdout, "%s  %-28s %s  → %s\n", time.Now().Format(time.TimeOnly), d.Type, d.WebhookID, status)
		}
	}
	return nil
}

func enabled(eps []client.WebhookEndpoint) int {
	n := 0
	for _, ep := range eps {
		if ep.Enabled {
			n++
		}
	}
	return n
}

// forwardOne POSTs one payload, signed now, and says how it ended.
func forwardOne(ctx context.Context, hc *http.Client, to string, signer *client.Verifier, d *client.WebhookDelivery) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, to, bytes.NewReader(d.Payload))
	if err != nil {
		return err.Error()
	}
	for k, v := range signer.Sign(d.WebhookID, time.Now(), d.Payload) {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := hc.Do(req)
	if err != nil {
		return "failed: " + err.Error()
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 1<<16))
	res.Body.Close()
	return res.Status
}
