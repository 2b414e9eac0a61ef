package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"eventops/engine"
	"eventops/web/httperr"
)

// Webhooks from the shop (DESIGN §7): POST /webhooks/shopify/{topic}, where
// topic is orders/create, refunds/create, orders/cancelled or
// app/uninstalled (the path keeps Shopify's slash; shop set-up subscribes
// exactly these URLs). The handler only reads the request and hands it to
// the engine (engine.ReceiveShopifyWebhook, where the rules live); no shop
// is called while the shop waits for the answer.
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

// Shopify's webhook headers.
const (
	headerShopifyTopic   = "X-Shopify-Topic"
	headerShopifyDomain  = "X-Shopify-Shop-Domain"
	headerShopifyWebhook = "X-Shopify-Webhook-Id"
	headerShopifyHMAC    = "X-Shopify-Hmac-Sha256"
)

// mountWebhooks mounts the shop's webhook receiver on app.
func (s *Server) mountWebhooks(app *fiber.App) {
	app.Post("/webhooks/shopify/*", s.shopifyWebhook)
}

type webhookAnswer struct {
	Status string `json:"status"`
}

func (s *Server) shopifyWebhook(c *fiber.Ctx) error {
	topic := strings.Trim(c.Params("*"), "/")
	if h := strings.Trim(c.Get(headerShopifyTopic), "/"); h != "" {
		if topic != "" && !strings.EqualFold(h, topic) {
			return httperr.New(http.StatusBadRequest, httperr.TypeBadRequest, "X-Shopify-Topic names another topic than the path")
		}
		topic = h
	}
	w := engine.ShopifyWebhook{
		Topic:      topic,
		ShopDomain: c.Get(headerShopifyDomain),
		ID:         c.Get(headerShopifyWebhook),
		HMAC:       c.Get(headerShopifyHMAC),
		Body:       c.Body(),
	}
	outcomes, err := s.eng.ReceiveShopifyWebhook(c.UserContext(), w)
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
