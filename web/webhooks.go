package web

import (
	"context"
	"errors"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"eventops/engine"
	"eventops/web/httperr"
)

// Webhooks from the shop (DESIGN §7): POST /webhooks/shopify/{topic}, where
// topic is orders/create, refunds/create, orders/cancelled or
// app/uninstalled (the path keeps Shopify's slash; shop set-up subscribes
// exactly these URLs). The handler only reads the request and hands it to
// Config.ShopWebhooks (engine/shopify's receiver reads the protocol: the
// X-Shopify-* headers, the signature, the payload; the engine's domain
// commands hold the rules); no shop is called while the shop waits for the
// answer. The route is mounted only when ShopWebhooks is set.
//
// Answers:
//   - 200 {"status": "processed" | "duplicate" | "ignored"}: handled now,
//     handled before (same X-Shopify-Webhook-Id: nothing changed), or
//     nothing of ours in it (an unknown topic, other products, an order
//     already recorded). Shopify retries anything else, so whatever is not
//     ours is still a 200.
//   - 401 unauthorized: an unknown shop or a bad or missing signature; the
//     two are not told apart (a caller cannot probe which shops are
//     connected), and nothing is recorded.
//   - 400 bad_request: a signed delivery without X-Shopify-Webhook-Id or
//     with a body that is not the topic's payload, or an X-Shopify-Topic
//     header that names another topic than the path; nothing is recorded.
//   - 5xx: our failure (storage); the shop retries the delivery later.
//
// The route is outside /api/v2: no API key, no rate limit (the signature is
// the authentication).

// ShopWebhooks takes in one webhook delivery from a shop. It is declared
// here, where it is used, so that web imports only engine: engine/shopify's
// WebhookReceiver implements it, and the composition root (serve.go) wires
// it in.
type ShopWebhooks interface {
	// ReceiveWebhook handles a delivery: topic is the one the path names,
	// header reads the request's headers, body is the body (decoded of any
	// Content-Encoding). It returns what the delivery did for each company
	// it was for, or an *engine.Error of kind Unauthorized (unknown shop,
	// bad signature) or Invalid (not a well-formed delivery), after which
	// nothing changed; any other error is ours (the shop retries).
	ReceiveWebhook(ctx context.Context, topic string, header func(name string) string, body []byte) ([]*engine.WebhookOutcome, error)
}

// mountWebhooks mounts the shop's webhook receiver on app, when there is
// one.
func (s *Server) mountWebhooks(app *fiber.App) {
	if s.cfg.ShopWebhooks == nil {
		return
	}
	app.Post("/webhooks/shopify/*", s.shopifyWebhook)
}

type webhookAnswer struct {
	Status string `json:"status"`
}

func (s *Server) shopifyWebhook(c *fiber.Ctx) error {
	header := func(name string) string { return c.Get(name) }
	outcomes, err := s.cfg.ShopWebhooks.ReceiveWebhook(c.UserContext(), c.Params("*"), header, c.Body())
	if err != nil {
		var ee *engine.Error
		if errors.As(err, &ee) && ee.Kind == engine.KindInvalid {
			return httperr.New(http.StatusBadRequest, httperr.TypeBadRequest, ee.Message)
		}
		return err
	}
	status := "ignored"
	dup := len(outcomes) > 0
	for _, o := range outcomes {
		if !o.Duplicate {
			dup = false
		}
		if !o.Duplicate && !o.Ignored {
			status = "processed"
		}
	}
	if dup {
		status = "duplicate"
	}
	return sendJSON(c, http.StatusOK, webhookAnswer{Status: status})
}
