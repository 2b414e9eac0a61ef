package sandbox

import (
	"errors"
	"fmt"
	"net/http"
)

// ProvisionedShop is a shop as ProvisionShop (and POST /sandbox/shopify/shops)
// answers it: its credentials, and whether this call created it.
type ProvisionedShop struct {
	Name          string `json:"name"`
	AccessToken   string `json:"access_token"`
	WebhookSecret string `json:"webhook_secret"`
	Currency      string `json:"currency"`
	// Created is false for a shop that existed: its token was rotated
	// (the app reinstalled) and its currency kept.
	Created bool `json:"created"`
}

// ProvisionShop is what a host does when it connects a company to the
// sandbox: it creates the shop (in o.Currency) when missing, else
// reinstalls the app on it (RotateToken: a new access token, the webhook
// secret kept, a revocation lifted; the shop keeps its currency). Several
// hosts sharing one sandbox (eventops serve nodes on one database, each
// told the sandbox's URL) provision through its route, POST
// /sandbox/shopify/shops.
func (s *Sandbox) ProvisionShop(name string, o ShopOptions) (ProvisionedShop, error) {
	creds, err := s.CreateShopWith(name, o)
	created := err == nil
	if errors.Is(err, ErrShopExists) {
		creds, err = s.RotateToken(slugify(name))
	}
	if err != nil {
		return ProvisionedShop{}, err
	}
	return ProvisionedShop{Name: creds.Name, AccessToken: creds.AccessToken, WebhookSecret: creds.WebhookSecret,
		Currency: creds.Currency, Created: created}, nil
}

// serveProvision is POST /shops {"name": "acme", "currency": "EUR"}: 201
// {"shop": ProvisionedShop} when created, 200 when it existed (its token
// rotated). A control route: the credentials are in the answer.
func (s *Sandbox) serveProvision(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name     string `json:"name"`
		Currency string `json:"currency"`
	}
	if err := readBody(r, &body); err != nil {
		fail(w, err)
		return
	}
	if body.Name == "" {
		fail(w, fmt.Errorf("%w: a shop name is required", ErrInvalid))
		return
	}
	p, err := s.ProvisionShop(body.Name, ShopOptions{Currency: body.Currency})
	if err != nil {
		fail(w, err)
		return
	}
	status := http.StatusOK
	if p.Created {
		status = http.StatusCreated
	}
	writeJSON(w, status, map[string]any{"shop": p})
}
