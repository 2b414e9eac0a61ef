package sandbox

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The in-memory model of one shop. Every record is also a key in the shop's
// bbolt bucket (store.go): mutations mark what they touch, and the marked
// records are written in one commit before the answer leaves.

// Sequence names: one counter per kind of id, per shop, so that the same
// calls against a fresh shop always produce the same ids.
const (
	seqProduct        = "Product"
	seqVariant        = "ProductVariant"
	seqItem           = "InventoryItem"
	seqLocation       = "Location"
	seqService        = "FulfillmentService"
	seqPublication    = "Publication"
	seqCatalog        = "AppCatalog"
	seqMetafield      = "Metafield"
	seqWebhook        = "WebhookSubscription"
	seqOrder          = "Order"
	seqLineItem       = "LineItem"
	seqRefund         = "Refund"
	seqRefundLine     = "RefundLineItem"
	seqAdjustment     = "InventoryAdjustmentGroup"
	seqOption         = "ProductOption"
	seqOptionValue    = "ProductOptionValue"
	seqSetOperation   = "ProductSetOperation"
	seqDeleteOp       = "ProductDeleteOperation"
	seqDelivery       = "Delivery"
	seqOrderTransact  = "OrderTransaction"
	orderNumberOffset = 1000 // order #1001 is the first
)

type shopMeta struct {
	Name   string `json:"name"`
	Number int64  `json:"number"` // the shop's own id (gid://shopify/Shop/N)
	Token  string `json:"token"`
	// Currency is the shop's currency ("" in files written before shops
	// had one: USD, see currency).
	Currency string `json:"currency,omitempty"`
	Secret   string `json:"secret"`
	Revoked  bool   `json:"revoked"`
	// NoAllOrders: the app was not granted read_all_orders, so orders
	// placed more than 60 days ago are hidden from it (see visible).
	NoAllOrders bool `json:"no_all_orders,omitempty"`
	// Auth is what the app's OAuth grants issued (oauth.go).
	Auth      *shopAuth        `json:"auth,omitempty"`
	Seq       map[string]int64 `json:"seq"`
	CreatedAt time.Time        `json:"created_at"`
}

type product struct {
	ID              int64               `json:"id"`
	Title           string              `json:"title"`
	Handle          string              `json:"handle"`
	Status          string              `json:"status"`
	Vendor          string              `json:"vendor"`
	ProductType     string              `json:"product_type"`
	DescriptionHTML string              `json:"description_html"`
	Tags            []string            `json:"tags"`
	TemplateSuffix  string              `json:"template_suffix,omitempty"`
	Options         []productOption     `json:"options"`
	VariantIDs      []int64             `json:"variant_ids"`
	Published       map[int64]time.Time `json:"published,omitempty"` // publication id → since
	CreatedAt       time.Time           `json:"created_at"`
	UpdatedAt       time.Time           `json:"updated_at"`
}

type productOption struct {
	ID       int64         `json:"id"`
	Name     string        `json:"name"`
	Position int           `json:"position"`
	Values   []optionValue `json:"values"`
}

type optionValue struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

type variant struct {
	ID              int64     `json:"id"`
	ProductID       int64     `json:"product_id"`
	ItemID          int64     `json:"item_id"`
	SKU             string    `json:"sku"`
	Barcode         string    `json:"barcode,omitempty"`
	PriceCents      int64     `json:"price_cents"`
	CompareAtCents  *int64    `json:"compare_at_cents,omitempty"`
	Taxable         bool      `json:"taxable"`
	InventoryPolicy string    `json:"inventory_policy"`
	Options         []string  `json:"options"` // one value per product option, in option order
	Position        int       `json:"position"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

func (v *variant) title() string {
	return strings.Join(v.Options, " / ")
}

// invItem is an inventory item with its levels (one per location where it
// is stocked): levels live and die with their item.
type invItem struct {
	ID               int64               `json:"id"`
	VariantID        int64               `json:"variant_id"`
	SKU              string              `json:"sku"`
	Tracked          bool                `json:"tracked"`
	RequiresShipping bool                `json:"requires_shipping"`
	Levels           map[int64]*invLevel `json:"levels"` // location id → level
	CreatedAt        time.Time           `json:"created_at"`
	UpdatedAt        time.Time           `json:"updated_at"`
}

// invLevel holds what an item has at one location. on_hand is always
// available + committed: orders move available to committed, refunds with a
// restock move it back, refunds without one write it off.
type invLevel struct {
	ItemID     int64     `json:"item_id"`
	LocationID int64     `json:"location_id"`
	Available  int64     `json:"available"`
	Committed  int64     `json:"committed"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

func (l *invLevel) quantity(name string) (int64, bool) {
	switch name {
	case "available":
		return l.Available, true
	case "committed":
		return l.Committed, true
	case "on_hand":
		return l.Available + l.Committed, true
	case "incoming", "reserved", "damaged", "safety_stock", "quality_control":
		return 0, true
	}
	return 0, false
}

func (it *invItem) levelIDs() []int64 {
	ids := make([]int64, 0, len(it.Levels))
	for id := range it.Levels {
		ids = append(ids, id)
	}
	sortIDs(ids)
	return ids
}

type location struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	ServiceID int64     `json:"service_id,omitempty"`
	Active    bool      `json:"active"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

type fService struct {
	ID                     int64     `json:"id"`
	Name                   string    `json:"name"`
	Handle                 string    `json:"handle"`
	CallbackURL            string    `json:"callback_url,omitempty"`
	InventoryManagement    bool      `json:"inventory_management"`
	TrackingSupport        bool      `json:"tracking_support"`
	RequiresShippingMethod bool      `json:"requires_shipping_method"`
	FulfillmentOrdersOptIn bool      `json:"fulfillment_orders_opt_in"`
	LocationID             int64     `json:"location_id"`
	CreatedAt              time.Time `json:"created_at"`
}

type publication struct {
	ID           int64  `json:"id"`
	Name         string `json:"name"`
	CatalogID    int64  `json:"catalog_id"`
	CatalogTitle string `json:"catalog_title"`
	AutoPublish  bool   `json:"auto_publish"`
}

// ownerRef names a metafield's owner: a GraphQL type and its number.
type ownerRef struct {
	Type string `json:"type"`
	ID   int64  `json:"id"`
}

func (o ownerRef) gid() string { return gid(o.Type, o.ID) }

type metafield struct {
	ID        int64     `json:"id"`
	Owner     ownerRef  `json:"owner"`
	Namespace string    `json:"namespace"`
	Key       string    `json:"key"`
	Type      string    `json:"type"`
	Value     string    `json:"value"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

type webhookSub struct {
	ID                  int64     `json:"id"`
	Topic               string    `json:"topic"` // GraphQL enum: ORDERS_CREATE
	URI                 string    `json:"uri"`
	Format              string    `json:"format"`
	IncludeFields       []string  `json:"include_fields,omitempty"`
	MetafieldNamespaces []string  `json:"metafield_namespaces,omitempty"`
	Filter              string    `json:"filter,omitempty"`
	APIVersion          string    `json:"api_version"`
	CreatedAt           time.Time `json:"created_at"`
	UpdatedAt           time.Time `json:"updated_at"`
}

type order struct {
	ID         int64  `json:"id"`
	Number     int64  `json:"number"`
	LocationID int64  `json:"location_id"`
	Currency   string `json:"currency"` // the shop's
	// PresentmentCurrency is the buyer's currency ("": the shop's).
	PresentmentCurrency string     `json:"presentment_currency,omitempty"`
	Lines               []lineItem `json:"lines"`
	RefundIDs           []int64    `json:"refund_ids,omitempty"`
	CancelledAt         *time.Time `json:"cancelled_at,omitempty"`
	CancelReason        string     `json:"cancel_reason,omitempty"`
	CreatedAt           time.Time  `json:"created_at"`
	UpdatedAt           time.Time  `json:"updated_at"`
	// SaleID is the payment transaction (kind SALE) through which the buyer
	// paid the order's total on Gateway; refunds that move money name it
	// as their parent.
	SaleID  int64  `json:"sale_transaction_id,omitempty"`
	Gateway string `json:"gateway,omitempty"`
	// FulfillmentOrderID names the order's fulfillment order (0: an order
	// kept from before they were modelled: it has none); Fulfillments are
	// the fulfillments made of it (fulfillment.go).
	FulfillmentOrderID int64         `json:"fulfillment_order_id,omitempty"`
	Fulfillments       []fulfillment `json:"fulfillments,omitempty"`
	// FulfillmentRequest is its fulfillment order's request status
	// (FulfillmentOrderRequestStatus; "": an order kept from before it was
	// modelled, taken as ACCEPTED at a fulfillment service's location).
	FulfillmentRequest string `json:"fulfillment_request,omitempty"`
}

func (o *order) name() string { return fmt.Sprintf("#%d", o.Number) }

func (o *order) totalCents() int64 {
	var t int64
	for _, l := range o.Lines {
		t += l.PriceCents * l.Quantity
	}
	return t
}

func (o *order) refundedCents(st *shopState) int64 {
	var t int64
	for _, id := range o.RefundIDs {
		if r := st.Refunds[id]; r != nil {
			t += r.AmountCents
		}
	}
	return t
}

// financialStatus is the REST spelling (paid, partially_refunded,
// refunded). It follows the money, as Shopify's does: a refund that
// returned nothing (no transactions) leaves the order paid. A free order
// follows its refunded quantities instead.
func (o *order) financialStatus(st *shopState) string {
	total, refunded := o.totalCents(), o.refundedCents(st)
	if total == 0 {
		for _, l := range o.Lines {
			total += l.Quantity
			refunded += l.Refunded
		}
	}
	switch {
	case refunded == 0:
		return "paid"
	case refunded >= total:
		return "refunded"
	default:
		return "partially_refunded"
	}
}

func (o *order) line(id int64) *lineItem {
	for i := range o.Lines {
		if o.Lines[i].ID == id {
			return &o.Lines[i]
		}
	}
	return nil
}

type lineItem struct {
	ID           int64  `json:"id"`
	VariantID    int64  `json:"variant_id"`
	ProductID    int64  `json:"product_id"`
	ItemID       int64  `json:"item_id"`
	Title        string `json:"title"`
	VariantTitle string `json:"variant_title"`
	SKU          string `json:"sku"`
	Quantity     int64  `json:"quantity"`
	PriceCents   int64  `json:"price_cents"`
	// PresentmentCents is the unit price in the order's presentment
	// currency (nil: the same as PriceCents).
	PresentmentCents *int64 `json:"presentment_cents,omitempty"`
	Refunded         int64  `json:"refunded"`
	Committed        int64  `json:"committed"` // what the order still holds in committed
	RequiresShipping bool   `json:"requires_shipping"`
	// Fulfilled is the quantity fulfilled; FulfillmentLineID the line's id
	// in the order's fulfillment order.
	Fulfilled         int64 `json:"fulfilled,omitempty"`
	FulfillmentLineID int64 `json:"fulfillment_line_id,omitempty"`
}

type refund struct {
	ID          int64        `json:"id"`
	OrderID     int64        `json:"order_id"`
	Note        string       `json:"note,omitempty"`
	Source      string       `json:"source"` // api, admin or cancel
	Lines       []refundLine `json:"lines"`
	AmountCents int64        `json:"amount_cents"`
	Transaction int64        `json:"transaction_id"`
	CreatedAt   time.Time    `json:"created_at"`
}

type refundLine struct {
	ID            int64  `json:"id"`
	LineItemID    int64  `json:"line_item_id"`
	Quantity      int64  `json:"quantity"`
	RestockType   string `json:"restock_type"` // GraphQL enum: CANCEL, RETURN, NO_RESTOCK
	LocationID    int64  `json:"location_id,omitempty"`
	SubtotalCents int64  `json:"subtotal_cents"`
}

func (l refundLine) restocked() bool {
	return l.RestockType != "NO_RESTOCK"
}

// idemRecord remembers what an @idempotent mutation answered: the hash of
// its arguments and a reference to its result, re-rendered from the current
// state when the key comes back.
type idemRecord struct {
	Mutation string    `json:"mutation"`
	Key      string    `json:"key"`
	Hash     string    `json:"hash"`
	Result   mutResult `json:"result"`
	At       time.Time `json:"at"`
}

// delivery is one webhook, kept until it was delivered or gave up, and for
// a while after (for Redeliver and the deliveries log).
type delivery struct {
	Seq        int64           `json:"seq"`
	WebhookID  string          `json:"webhook_id"`
	EventID    string          `json:"event_id"`
	Topic      string          `json:"topic"` // REST spelling: orders/create
	URL        string          `json:"url"`
	APIVersion string          `json:"api_version"`
	Body       json.RawMessage `json:"body"`
	Status     string          `json:"status"` // pending, delivered, failed, skipped
	Attempts   int             `json:"attempts"`
	LastStatus int             `json:"last_status,omitempty"`
	LastError  string          `json:"last_error,omitempty"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
}

// shopState is everything one shop holds. Indexes (handles, metafields by
// owner) are derived and rebuilt on load.
type shopState struct {
	Meta         shopMeta
	Products     map[int64]*product
	Variants     map[int64]*variant
	Items        map[int64]*invItem
	Locations    map[int64]*location
	Services     map[int64]*fService
	Publications map[int64]*publication
	Metafields   map[int64]*metafield
	Webhooks     map[int64]*webhookSub
	Orders       map[int64]*order
	Refunds      map[int64]*refund
	Idem         map[string]*idemRecord // mutation + "\x00" + key
	Deliveries   map[int64]*delivery

	handles     map[string]int64              // product handle → id
	ownerFields map[ownerRef]map[string]int64 // owner → namespace+"\x00"+key → metafield id
	dirty       map[string]struct{}
}

func newShopState() *shopState {
	st := &shopState{
		Meta:         shopMeta{Seq: map[string]int64{}},
		Products:     map[int64]*product{},
		Variants:     map[int64]*variant{},
		Items:        map[int64]*invItem{},
		Locations:    map[int64]*location{},
		Services:     map[int64]*fService{},
		Publications: map[int64]*publication{},
		Metafields:   map[int64]*metafield{},
		Webhooks:     map[int64]*webhookSub{},
		Orders:       map[int64]*order{},
		Refunds:      map[int64]*refund{},
		Idem:         map[string]*idemRecord{},
		Deliveries:   map[int64]*delivery{},
		dirty:        map[string]struct{}{},
	}
	st.reindex()
	return st
}

func (st *shopState) reindex() {
	st.handles = make(map[string]int64, len(st.Products))
	for _, p := range st.Products {
		st.handles[p.Handle] = p.ID
	}
	st.ownerFields = map[ownerRef]map[string]int64{}
	for _, m := range st.Metafields {
		st.indexMetafield(m)
	}
}

func (st *shopState) indexMetafield(m *metafield) {
	idx := st.ownerFields[m.Owner]
	if idx == nil {
		idx = map[string]int64{}
		st.ownerFields[m.Owner] = idx
	}
	idx[m.Namespace+"\x00"+m.Key] = m.ID
}

// next hands out the next id of a kind.
func (st *shopState) next(kind string) int64 {
	st.Meta.Seq[kind]++
	st.mark(keyMeta)
	return st.Meta.Seq[kind]
}

// mark records that a record changed and must be written (or deleted, when
// it no longer exists) by the next commit.
func (st *shopState) mark(key string) {
	st.dirty[key] = struct{}{}
}

func (st *shopState) markID(kind string, id int64) {
	st.mark(kind + "/" + strconv.FormatInt(id, 10))
}

// metafieldOf finds an owner's metafield.
func (st *shopState) metafieldOf(o ownerRef, namespace, key string) *metafield {
	if id, ok := st.ownerFields[o][namespace+"\x00"+key]; ok {
		return st.Metafields[id]
	}
	return nil
}

// metafieldsOf lists an owner's metafields by id.
func (st *shopState) metafieldsOf(o ownerRef) []*metafield {
	idx := st.ownerFields[o]
	out := make([]*metafield, 0, len(idx))
	for _, id := range idx {
		if m := st.Metafields[id]; m != nil {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (st *shopState) putMetafield(m *metafield) {
	st.Metafields[m.ID] = m
	st.indexMetafield(m)
	st.markID(kindMetafield, m.ID)
}

func (st *shopState) deleteMetafield(m *metafield) {
	delete(st.Metafields, m.ID)
	if idx := st.ownerFields[m.Owner]; idx != nil {
		delete(idx, m.Namespace+"\x00"+m.Key)
		if len(idx) == 0 {
			delete(st.ownerFields, m.Owner)
		}
	}
	st.markID(kindMetafield, m.ID)
}

func (st *shopState) deleteOwnerMetafields(o ownerRef) {
	for _, m := range st.metafieldsOf(o) {
		st.deleteMetafield(m)
	}
}

// deleteVariant removes a variant, its inventory item (with its levels) and
// their metafields. The product's variant list is the caller's.
func (st *shopState) deleteVariant(v *variant) {
	delete(st.Variants, v.ID)
	st.markID(kindVariant, v.ID)
	if it := st.Items[v.ItemID]; it != nil {
		delete(st.Items, it.ID)
		st.markID(kindItem, it.ID)
	}
	st.deleteOwnerMetafields(ownerRef{"ProductVariant", v.ID})
}

// deleteProduct removes a product with everything hanging from it:
// variants, inventory items and levels, metafields, publications.
func (st *shopState) deleteProduct(p *product) {
	for _, vid := range p.VariantIDs {
		if v := st.Variants[vid]; v != nil {
			st.deleteVariant(v)
		}
	}
	st.deleteOwnerMetafields(ownerRef{"Product", p.ID})
	delete(st.Products, p.ID)
	if st.handles[p.Handle] == p.ID {
		delete(st.handles, p.Handle)
	}
	st.markID(kindProduct, p.ID)
}

// defaultLocation is the shop's own location, created with the shop.
func (st *shopState) defaultLocation() *location {
	return st.Locations[1]
}

// onlineStore is the Online Store publication, created with the shop.
func (st *shopState) onlineStore() *publication {
	for _, id := range sortedKeys(st.Publications) {
		if p := st.Publications[id]; p.Name == "Online Store" {
			return p
		}
	}
	return nil
}

func (st *shopState) domain() string { return st.Meta.Name + ".myshopify.com" }

// currency is the shop's currency: USD for a shop created before shops
// had one.
func (st *shopState) currency() string {
	if st.Meta.Currency == "" {
		return DefaultCurrency
	}
	return st.Meta.Currency
}

// --- ids -----------------------------------------------------------------------

const gidPrefix = "gid://shopify/"

func gid(typ string, id int64) string {
	return gidPrefix + typ + "/" + strconv.FormatInt(id, 10)
}

// levelGID is an inventory level's id: the location's number with the item
// as a parameter, as Shopify spells them.
func levelGID(item, loc int64) string {
	return fmt.Sprintf("%sInventoryLevel/%d?inventory_item_id=%d", gidPrefix, loc, item)
}

// parseGID splits "gid://shopify/Type/123?x=y" into its type, number and
// parameters.
func parseGID(s string) (typ string, id int64, params string, ok bool) {
	rest, found := strings.CutPrefix(s, gidPrefix)
	if !found {
		return "", 0, "", false
	}
	rest, params, _ = strings.Cut(rest, "?")
	typ, num, found := strings.Cut(rest, "/")
	if !found || typ == "" {
		return "", 0, "", false
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return "", 0, "", false
	}
	return typ, n, params, true
}

// idOf parses a gid of the wanted type; 0 when it is not one.
func idOf(s any, typ string) int64 {
	str, _ := s.(string)
	t, id, _, ok := parseGID(str)
	if !ok || t != typ {
		return 0
	}
	return id
}

// parseRouteID reads an id from a URL path: a bare number or a gid of typ.
func parseRouteID(s, typ string) int64 {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
		return n
	}
	return idOf(s, typ)
}

func sortIDs(ids []int64) {
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
}

func sortedKeys[V any](m map[int64]V) []int64 {
	ids := make([]int64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sortIDs(ids)
	return ids
}

// --- text ----------------------------------------------------------------------

// slugify makes a handle: lower case letters and digits joined by hyphens.
func slugify(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
		default:
			dash = true
		}
	}
	return b.String()
}

func timeString(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}
