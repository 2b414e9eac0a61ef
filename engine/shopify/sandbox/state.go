package sandbox

import (
	"time"
)

// ShopState is what a shop holds, as GET /sandbox/shopify/{shop}/state
// answers it: every list ordered by id, ids as gids. It holds no secret.
type ShopState struct {
	Name     string `json:"name"`
	ID       string `json:"id"`
	Domain   string `json:"domain"`
	Currency string `json:"currency"`
	Revoked  bool   `json:"revoked"`
	// Scopes are the access scopes the app holds; TokenGrants counts the
	// token requests answered, by grant type.
	Scopes              []string                  `json:"scopes"`
	TokenGrants         map[string]int            `json:"token_grants,omitempty"`
	Products            []ProductState            `json:"products"`
	Variants            []VariantState            `json:"variants"`
	InventoryLevels     []InventoryLevelState     `json:"inventory_levels"`
	Metafields          []MetafieldState          `json:"metafields"`
	Publications        []PublicationState        `json:"publications"`
	FulfillmentServices []FulfillmentServiceState `json:"fulfillment_services"`
	Locations           []LocationState           `json:"locations"`
	Webhooks            []WebhookState            `json:"webhooks"`
	Orders              []OrderState              `json:"orders"`
	Refunds             []RefundState             `json:"refunds"`
}

type ProductState struct {
	ID          string        `json:"id"`
	Title       string        `json:"title"`
	Handle      string        `json:"handle"`
	Status      string        `json:"status"`
	Vendor      string        `json:"vendor,omitempty"`
	ProductType string        `json:"product_type,omitempty"`
	Tags        []string      `json:"tags"`
	Options     []OptionState `json:"options"`
	VariantIDs  []string      `json:"variant_ids"`
	PublishedOn []string      `json:"published_on"` // publication gids
	CreatedAt   time.Time     `json:"created_at"`
	UpdatedAt   time.Time     `json:"updated_at"`
}

type OptionState struct {
	Name   string   `json:"name"`
	Values []string `json:"values"`
}

type VariantState struct {
	ID               string   `json:"id"`
	ProductID        string   `json:"product_id"`
	InventoryItemID  string   `json:"inventory_item_id"`
	Title            string   `json:"title"`
	Options          []string `json:"options"`
	SKU              string   `json:"sku"`
	Price            string   `json:"price"`
	Position         int      `json:"position"`
	InventoryPolicy  string   `json:"inventory_policy"`
	Tracked          bool     `json:"tracked"`
	RequiresShipping bool     `json:"requires_shipping"`
}

type InventoryLevelState struct {
	ID              string `json:"id"`
	InventoryItemID string `json:"inventory_item_id"`
	VariantID       string `json:"variant_id"`
	LocationID      string `json:"location_id"`
	Available       int64  `json:"available"`
	Committed       int64  `json:"committed"`
	OnHand          int64  `json:"on_hand"`
}

type MetafieldState struct {
	ID        string `json:"id"`
	OwnerID   string `json:"owner_id"`
	Namespace string `json:"namespace"`
	Key       string `json:"key"`
	Type      string `json:"type"`
	Value     string `json:"value"`
}

type PublicationState struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	CatalogTitle string   `json:"catalog_title"`
	ProductIDs   []string `json:"product_ids"`
}

type FulfillmentServiceState struct {
	ID                  string `json:"id"`
	Name                string `json:"name"`
	Handle              string `json:"handle"`
	LocationID          string `json:"location_id"`
	CallbackURL         string `json:"callback_url,omitempty"`
	InventoryManagement bool   `json:"inventory_management"`
	TrackingSupport     bool   `json:"tracking_support"`
}

type LocationState struct {
	ID                   string `json:"id"`
	Name                 string `json:"name"`
	Active               bool   `json:"active"`
	FulfillmentServiceID string `json:"fulfillment_service_id,omitempty"`
}

type WebhookState struct {
	ID         string `json:"id"`
	Topic      string `json:"topic"`
	URI        string `json:"uri"`
	Format     string `json:"format"`
	APIVersion string `json:"api_version"`
}

type OrderState struct {
	ID              string `json:"id"`
	Name            string `json:"name"`
	FinancialStatus string `json:"financial_status"` // paid, partially_refunded, refunded
	TotalPrice      string `json:"total_price"`
	// Currency is the shop's currency TotalPrice is in; the buyer paid
	// PresentmentTotal in PresentmentCurrency.
	Currency            string          `json:"currency"`
	PresentmentCurrency string          `json:"presentment_currency"`
	PresentmentTotal    string          `json:"presentment_total"`
	LocationID          string          `json:"location_id"`
	LineItems           []LineItemState `json:"line_items"`
	RefundIDs           []string        `json:"refund_ids"`
	// TotalRefunded is the money returned to the buyer (totalRefundedSet's
	// shop money): only refunds carrying transactions move money.
	TotalRefunded string     `json:"total_refunded"`
	CancelledAt   *time.Time `json:"cancelled_at"`
	CreatedAt     time.Time  `json:"created_at"`
	// FulfillmentStatus is the status of the order's fulfillment order
	// (OPEN, IN_PROGRESS, CLOSED; "" when it has none), Fulfillments what
	// was fulfilled of it.
	FulfillmentStatus string             `json:"fulfillment_status,omitempty"`
	Fulfillments      []FulfillmentState `json:"fulfillments,omitempty"`
	// FulfillmentRequest is its request status (SUBMITTED at a
	// fulfillment service's location until the service accepts it).
	FulfillmentRequest string `json:"fulfillment_request,omitempty"`
}

// FulfillmentState is one fulfillment of an order.
type FulfillmentState struct {
	ID             string `json:"id"`
	NotifyCustomer bool   `json:"notify_customer"`
	Quantity       int64  `json:"quantity"` // items fulfilled, over its lines
}

type LineItemState struct {
	ID        string `json:"id"`
	VariantID string `json:"variant_id"`
	ProductID string `json:"product_id"`
	Title     string `json:"title"`
	SKU       string `json:"sku"`
	Price     string `json:"price"`
	Quantity  int64  `json:"quantity"`
	Refunded  int64  `json:"refunded"`
	Fulfilled int64  `json:"fulfilled,omitempty"`
}

type RefundState struct {
	ID        string            `json:"id"`
	OrderID   string            `json:"order_id"`
	Source    string            `json:"source"` // api (refundCreate), admin or cancel
	Note      string            `json:"note,omitempty"`
	Amount    string            `json:"amount"`
	Lines     []RefundLineState `json:"lines"`
	CreatedAt time.Time         `json:"created_at"`
}

type RefundLineState struct {
	ID          string `json:"id"`
	LineItemID  string `json:"line_item_id"`
	Quantity    int64  `json:"quantity"`
	RestockType string `json:"restock_type"`
	LocationID  string `json:"location_id,omitempty"`
}

func gidOrEmpty(typ string, id int64) string {
	if id == 0 {
		return ""
	}
	return gid(typ, id)
}

// view builds a shop's state; sh.mu held.
func (st *shopState) view() ShopState {
	out := ShopState{
		Name:                st.Meta.Name,
		ID:                  gid("Shop", st.Meta.Number),
		Domain:              st.domain(),
		Currency:            st.currency(),
		Revoked:             st.Meta.Revoked,
		Scopes:              st.grantedScopes(),
		TokenGrants:         tokenGrants(st),
		Products:            []ProductState{},
		Variants:            []VariantState{},
		InventoryLevels:     []InventoryLevelState{},
		Metafields:          []MetafieldState{},
		Publications:        []PublicationState{},
		FulfillmentServices: []FulfillmentServiceState{},
		Locations:           []LocationState{},
		Webhooks:            []WebhookState{},
		Orders:              []OrderState{},
		Refunds:             []RefundState{},
	}
	for _, id := range sortedKeys(st.Products) {
		p := st.Products[id]
		ps := ProductState{ID: gid("Product", id), Title: p.Title, Handle: p.Handle, Status: p.Status, Vendor: p.Vendor,
			ProductType: p.ProductType, Tags: append([]string{}, p.Tags...), Options: []OptionState{}, VariantIDs: []string{},
			PublishedOn: []string{}, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
		for _, o := range p.Options {
			os := OptionState{Name: o.Name, Values: []string{}}
			for _, v := range o.Values {
				os.Values = append(os.Values, v.Name)
			}
			ps.Options = append(ps.Options, os)
		}
		for _, v := range productVariants(st, p) {
			ps.VariantIDs = append(ps.VariantIDs, gid("ProductVariant", v.ID))
		}
		for _, pub := range sortedKeys(p.Published) {
			ps.PublishedOn = append(ps.PublishedOn, gid("Publication", pub))
		}
		out.Products = append(out.Products, ps)
	}
	for _, id := range sortedKeys(st.Variants) {
		v := st.Variants[id]
		vs := VariantState{ID: gid("ProductVariant", id), ProductID: gid("Product", v.ProductID), InventoryItemID: gid("InventoryItem", v.ItemID),
			Title: v.title(), Options: append([]string{}, v.Options...), SKU: v.SKU, Price: formatMoney(v.PriceCents, st.currency()),
			Position: v.Position, InventoryPolicy: v.InventoryPolicy}
		if it := st.Items[v.ItemID]; it != nil {
			vs.Tracked, vs.RequiresShipping = it.Tracked, it.RequiresShipping
		}
		out.Variants = append(out.Variants, vs)
	}
	for _, id := range sortedKeys(st.Items) {
		it := st.Items[id]
		for _, loc := range it.levelIDs() {
			l := it.Levels[loc]
			out.InventoryLevels = append(out.InventoryLevels, InventoryLevelState{
				ID: levelGID(id, loc), InventoryItemID: gid("InventoryItem", id), VariantID: gid("ProductVariant", it.VariantID),
				LocationID: gid("Location", loc), Available: l.Available, Committed: l.Committed, OnHand: l.Available + l.Committed,
			})
		}
	}
	for _, id := range sortedKeys(st.Metafields) {
		m := st.Metafields[id]
		out.Metafields = append(out.Metafields, MetafieldState{ID: gid("Metafield", id), OwnerID: m.Owner.gid(),
			Namespace: m.Namespace, Key: m.Key, Type: m.Type, Value: m.Value})
	}
	for _, id := range sortedKeys(st.Publications) {
		pub := st.Publications[id]
		ps := PublicationState{ID: gid("Publication", id), Name: pub.Name, CatalogTitle: pub.CatalogTitle, ProductIDs: []string{}}
		for _, pid := range sortedKeys(st.Products) {
			if _, ok := st.Products[pid].Published[id]; ok {
				ps.ProductIDs = append(ps.ProductIDs, gid("Product", pid))
			}
		}
		out.Publications = append(out.Publications, ps)
	}
	for _, id := range sortedKeys(st.Services) {
		f := st.Services[id]
		out.FulfillmentServices = append(out.FulfillmentServices, FulfillmentServiceState{ID: gid("FulfillmentService", id),
			Name: f.Name, Handle: f.Handle, LocationID: gid("Location", f.LocationID), CallbackURL: f.CallbackURL,
			InventoryManagement: f.InventoryManagement, TrackingSupport: f.TrackingSupport})
	}
	for _, id := range sortedKeys(st.Locations) {
		l := st.Locations[id]
		out.Locations = append(out.Locations, LocationState{ID: gid("Location", id), Name: l.Name, Active: l.Active,
			FulfillmentServiceID: gidOrEmpty("FulfillmentService", l.ServiceID)})
	}
	for _, id := range sortedKeys(st.Webhooks) {
		w := st.Webhooks[id]
		out.Webhooks = append(out.Webhooks, WebhookState{ID: gid("WebhookSubscription", id), Topic: w.Topic, URI: w.URI,
			Format: w.Format, APIVersion: w.APIVersion})
	}
	for _, id := range sortedKeys(st.Orders) {
		out.Orders = append(out.Orders, orderView(st, st.Orders[id]))
	}
	for _, id := range sortedKeys(st.Refunds) {
		out.Refunds = append(out.Refunds, refundView(st, st.Refunds[id]))
	}
	return out
}

func orderView(st *shopState, o *order) OrderState {
	os := OrderState{ID: gid("Order", o.ID), Name: o.name(), FinancialStatus: o.financialStatus(st),
		TotalPrice: formatMoney(o.totalCents(), o.Currency), Currency: o.Currency,
		PresentmentCurrency: o.presentmentCurrency(), PresentmentTotal: formatMoney(o.presentmentTotal(), o.presentmentCurrency()), LocationID: gid("Location", o.LocationID), LineItems: []LineItemState{},
		RefundIDs: []string{}, TotalRefunded: formatMoney(o.refundedCents(st), o.Currency), CancelledAt: o.CancelledAt, CreatedAt: o.CreatedAt}
	for _, l := range o.Lines {
		os.LineItems = append(os.LineItems, LineItemState{ID: gid("LineItem", l.ID), VariantID: gid("ProductVariant", l.VariantID),
			ProductID: gid("Product", l.ProductID), Title: l.Title, SKU: l.SKU, Price: formatMoney(l.PriceCents, o.Currency),
			Quantity: l.Quantity, Refunded: l.Refunded, Fulfilled: l.Fulfilled})
	}
	if o.FulfillmentOrderID != 0 {
		os.FulfillmentStatus = o.fulfillmentStatus()
		os.FulfillmentRequest = st.requestStatus(o)
	}
	for _, f := range o.Fulfillments {
		fs := FulfillmentState{ID: gid("Fulfillment", f.ID), NotifyCustomer: f.NotifyCustomer}
		for _, l := range f.Lines {
			fs.Quantity += l.Quantity
		}
		os.Fulfillments = append(os.Fulfillments, fs)
	}
	for _, id := range o.RefundIDs {
		os.RefundIDs = append(os.RefundIDs, gid("Refund", id))
	}
	return os
}

func refundView(st *shopState, r *refund) RefundState {
	cur := st.currency()
	if o := st.Orders[r.OrderID]; o != nil {
		cur = o.Currency
	}
	rs := RefundState{ID: gid("Refund", r.ID), OrderID: gid("Order", r.OrderID), Source: r.Source, Note: r.Note,
		Amount: formatMoney(r.AmountCents, cur), Lines: []RefundLineState{}, CreatedAt: r.CreatedAt}
	for _, l := range r.Lines {
		rs.Lines = append(rs.Lines, RefundLineState{ID: gid("RefundLineItem", l.ID), LineItemID: gid("LineItem", l.LineItemID),
			Quantity: l.Quantity, RestockType: l.RestockType, LocationID: gidOrEmpty("Location", l.LocationID)})
	}
	return rs
}

// State returns one shop's state.
func (s *Sandbox) State(shopName string) (ShopState, error) {
	sh, err := s.shop(shopName)
	if err != nil {
		return ShopState{}, err
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.st.view(), nil
}

// States returns every shop's state, keyed by shop name.
func (s *Sandbox) States() map[string]ShopState {
	out := map[string]ShopState{}
	for _, name := range s.Shops() {
		if st, err := s.State(name); err == nil {
			out[name] = st
		}
	}
	return out
}

func tokenGrants(st *shopState) map[string]int {
	if st.Meta.Auth == nil || len(st.Meta.Auth.Grants) == 0 {
		return nil
	}
	out := make(map[string]int, len(st.Meta.Auth.Grants))
	for k, v := range st.Meta.Auth.Grants {
		out[k] = v
	}
	return out
}
