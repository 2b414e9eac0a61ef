package sandbox

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
)

// A mutation validates everything first and changes nothing when it answers
// userErrors (all or nothing). What it answers is a mutResult: references
// to objects, re-read from the state when the payload is rendered. That is
// also what an idempotency key remembers, so a replay shows the objects as
// they are now, as Shopify does.

type userError struct {
	Field        []string `json:"field,omitempty"`
	Message      string   `json:"message"`
	Code         string   `json:"code,omitempty"`
	ElementIndex *int     `json:"element_index,omitempty"`
}

func uerr(code, msg string, field ...string) userError {
	return userError{Field: field, Message: msg, Code: code}
}

type mutResult struct {
	Payload string              `json:"payload"`
	ErrType string              `json:"error_type"`
	Refs    map[string]string   `json:"refs,omitempty"`  // payload field → gid
	Lists   map[string][]string `json:"lists,omitempty"` // payload field → gids
	IDs     map[string]string   `json:"ids,omitempty"`   // payload field → ID scalar
	Group   *adjGroup           `json:"group,omitempty"`
	Op      *opInfo             `json:"op,omitempty"`
	Errors  []userError         `json:"user_errors"`
}

func (r *mutResult) ref(field, id string) *mutResult {
	if r.Refs == nil {
		r.Refs = map[string]string{}
	}
	r.Refs[field] = id
	return r
}

func (r *mutResult) id(field, id string) *mutResult {
	if r.IDs == nil {
		r.IDs = map[string]string{}
	}
	r.IDs[field] = id
	return r
}

func failed(errs ...userError) *mutResult {
	return &mutResult{Errors: errs}
}

// adjGroup is an inventory adjustment group: the changes one
// inventorySetQuantities made.
type adjGroup struct {
	ID        int64       `json:"id"`
	Reason    string      `json:"reason"`
	Reference string      `json:"reference,omitempty"`
	CreatedAt time.Time   `json:"created_at"`
	Changes   []adjChange `json:"changes"`
}

type adjChange struct {
	Name       string `json:"name"`
	Delta      int64  `json:"delta"`
	After      int64  `json:"after"`
	ItemID     int64  `json:"item_id"`
	LocationID int64  `json:"location_id"`
}

// opInfo is the operation object of an asynchronous productSet/productDelete
// (the sandbox always finishes at once: status COMPLETE).
type opInfo struct {
	Field     string `json:"field"` // productSetOperation or productDeleteOperation
	ID        int64  `json:"id"`
	Product   string `json:"product,omitempty"`
	DeletedID string `json:"deleted_id,omitempty"`
}

// mutationSpec describes a mutation field.
type mutationSpec struct {
	run     func(x *execCtx, a map[string]any) *mutResult
	payload string
	errType string
	// idempotent: accepts @idempotent; requiredFrom: the API version from
	// which it must carry one ("" never).
	idempotent   bool
	requiredFrom string
}

var mutations map[string]mutationSpec

func init() {
	mutations = map[string]mutationSpec{
		"productSet":                {run: productSet, payload: "ProductSetPayload", errType: "ProductSetUserError"},
		"productDelete":             {run: productDelete, payload: "ProductDeletePayload", errType: "UserError"},
		"inventorySetQuantities":    {run: inventorySetQuantities, payload: "InventorySetQuantitiesPayload", errType: "InventorySetQuantitiesUserError", idempotent: true, requiredFrom: "2026-04"},
		"inventoryActivate":         {run: inventoryActivate, payload: "InventoryActivatePayload", errType: "UserError", idempotent: true, requiredFrom: "2026-04"},
		"inventoryDeactivate":       {run: inventoryDeactivate, payload: "InventoryDeactivatePayload", errType: "UserError"},
		"inventoryItemUpdate":       {run: inventoryItemUpdate, payload: "InventoryItemUpdatePayload", errType: "UserError"},
		"metafieldsSet":             {run: metafieldsSet, payload: "MetafieldsSetPayload", errType: "MetafieldsSetUserError"},
		"fulfillmentServiceCreate":  {run: fulfillmentServiceCreate, payload: "FulfillmentServiceCreatePayload", errType: "UserError"},
		"webhookSubscriptionCreate": {run: webhookSubscriptionCreate, payload: "WebhookSubscriptionCreatePayload", errType: "UserError"},
		"webhookSubscriptionDelete": {run: webhookSubscriptionDelete, payload: "WebhookSubscriptionDeletePayload", errType: "UserError"},
		"publishablePublish":        {run: publishablePublish, payload: "PublishablePublishPayload", errType: "UserError"},
		"publishableUnpublish":      {run: publishableUnpublish, payload: "PublishableUnpublishPayload", errType: "UserError"},
		"fulfillmentCreate":         {run: fulfillmentCreate, payload: "FulfillmentCreatePayload", errType: "UserError"},
		"fulfillmentOrderAcceptFulfillmentRequest": {run: fulfillmentOrderAcceptFulfillmentRequest,
			payload: "FulfillmentOrderAcceptFulfillmentRequestPayload", errType: "UserError"},
		"refundCreate": {run: refundCreate, payload: "RefundCreatePayload", errType: "UserError", idempotent: true, requiredFrom: "2026-04"},
	}
}

// idempotencyRetention is how long a key is remembered.
const idempotencyRetention = 24 * time.Hour

// idempotencyKeyOf reads @idempotent(key:) on a field.
func idempotencyKeyOf(f *ast.Field, vars map[string]any) (string, bool) {
	d := f.Directives.ForName("idempotent")
	if d == nil {
		return "", false
	}
	k, _ := d.ArgumentMap(vars)["key"].(string)
	return k, true
}

type mutationRoot struct{}

func (mutationRoot) typeName() string { return "Mutation" }

func (mutationRoot) field(x *execCtx, f *ast.Field, a map[string]any) (any, error) {
	spec, ok := mutations[f.Name]
	if !ok {
		return nil, errorf("undefinedField", "Field '%s' is not supported by the sandbox", f.Name)
	}
	key, hasKey := idempotencyKeyOf(f, x.vars)
	switch {
	case hasKey && !spec.idempotent:
		return nil, errorf("BAD_REQUEST", "The @idempotent directive is not supported on %s.", f.Name)
	case hasKey && key == "":
		return nil, errorf("BAD_REQUEST", "The @idempotent directive needs a non-empty key.")
	case !hasKey && spec.requiredFrom != "" && x.version >= spec.requiredFrom:
		return nil, errorf("BAD_REQUEST",
			"%s requires an idempotency key from API version %s: add @idempotent(key: \"<uuid>\") to the field.",
			f.Name, spec.requiredFrom)
	}
	st := x.st
	var hash string
	if hasKey {
		if x.idemKey == "" {
			x.idemKey = key
		}
		hash = hashArgs(a)
		if rec := st.Idem[idemKey(f.Name, key)]; rec != nil && x.now.Sub(rec.At) < idempotencyRetention {
			x.replayed = true
			if rec.Hash != hash {
				return payloadR{&mutResult{Payload: spec.payload, ErrType: spec.errType, Errors: []userError{
					uerr("IDEMPOTENCY_KEY_PARAMETER_MISMATCH", "The same idempotency key cannot be used with different operation parameters."),
				}}}, nil
			}
			return payloadR{&rec.Result}, nil
		}
	}
	res := spec.run(x, a)
	res.Payload, res.ErrType = spec.payload, spec.errType
	if hasKey {
		st.Idem[idemKey(f.Name, key)] = &idemRecord{Mutation: f.Name, Key: key, Hash: hash, Result: *res, At: x.now}
		st.mark(idemRecordKey(f.Name, key))
		x.pruneIdempotency()
	}
	return payloadR{res}, nil
}

// pruneIdempotency forgets keys past their retention, now and then.
func (x *execCtx) pruneIdempotency() {
	st := x.st
	if len(st.Idem) < 1000 || len(st.Idem)%100 != 0 {
		return
	}
	for k, r := range st.Idem {
		if x.now.Sub(r.At) >= idempotencyRetention {
			delete(st.Idem, k)
			st.mark(idemRecordKey(r.Mutation, r.Key))
		}
	}
}

// hashArgs fingerprints a field's resolved arguments (variables and
// literals alike): encoding/json sorts map keys, so equal arguments hash
// equally.
func hashArgs(a map[string]any) string {
	raw, _ := json.Marshal(a)
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// --- payloads -------------------------------------------------------------------------

type payloadR struct{ r *mutResult }

func (p payloadR) typeName() string { return p.r.Payload }

func (p payloadR) field(x *execCtx, f *ast.Field, _ map[string]any) (any, error) {
	r := p.r
	switch f.Name {
	case "userErrors":
		out := make([]resolver, len(r.Errors))
		for i := range r.Errors {
			out[i] = userErrorR{r.ErrType, &r.Errors[i]}
		}
		return out, nil
	case "shop":
		return shopR{}, nil
	case "inventoryAdjustmentGroup":
		if r.Group == nil {
			return nil, nil
		}
		return groupR{r.Group}, nil
	case "productSetOperation", "productDeleteOperation":
		if r.Op == nil || r.Op.Field != f.Name {
			return nil, nil
		}
		return opR{r.Op}, nil
	}
	if id, ok := r.Refs[f.Name]; ok {
		return x.resolveGID(id), nil
	}
	if ids, ok := r.Lists[f.Name]; ok {
		out := make([]resolver, 0, len(ids))
		for _, id := range ids {
			if o := x.resolveGID(id); o != nil {
				out = append(out, o)
			}
		}
		return out, nil
	}
	if id, ok := r.IDs[f.Name]; ok {
		return id, nil
	}
	return nil, nil
}

type userErrorR struct {
	typ string
	e   *userError
}

func (u userErrorR) typeName() string { return u.typ }

func (u userErrorR) field(_ *execCtx, f *ast.Field, _ map[string]any) (any, error) {
	switch f.Name {
	case "field":
		if u.e.Field == nil {
			return nil, nil
		}
		return u.e.Field, nil
	case "message":
		return u.e.Message, nil
	case "code":
		return nilString(u.e.Code), nil
	case "elementIndex":
		if u.e.ElementIndex == nil {
			return nil, nil
		}
		return int64(*u.e.ElementIndex), nil
	}
	return nil, nil
}

type groupR struct{ g *adjGroup }

func (groupR) typeName() string { return "InventoryAdjustmentGroup" }

func (r groupR) field(_ *execCtx, f *ast.Field, a map[string]any) (any, error) {
	g := r.g
	switch f.Name {
	case "id":
		return gid("InventoryAdjustmentGroup", g.ID), nil
	case "createdAt":
		return timeString(g.CreatedAt), nil
	case "reason":
		return g.Reason, nil
	case "referenceDocumentUri":
		return nilString(g.Reference), nil
	case "changes":
		items, locs, names := idSet(a["inventoryItemIds"], "InventoryItem"), idSet(a["locationIds"], "Location"), map[string]bool{}
		for _, n := range stringList(a["quantityNames"]) {
			names[n] = true
		}
		out := []resolver{}
		for i := range g.Changes {
			c := &g.Changes[i]
			if (len(items) > 0 && !items[c.ItemID]) || (len(locs) > 0 && !locs[c.LocationID]) || (len(names) > 0 && !names[c.Name]) {
				continue
			}
			out = append(out, changeR{g, c})
		}
		return out, nil
	}
	return nil, nil
}

func idSet(v any, typ string) map[int64]bool {
	out := map[int64]bool{}
	for _, s := range stringList(v) {
		if id := idOf(s, typ); id != 0 {
			out[id] = true
		}
	}
	return out
}

type changeR struct {
	g *adjGroup
	c *adjChange
}

func (changeR) typeName() string { return "InventoryChange" }

func (r changeR) field(x *execCtx, f *ast.Field, _ map[string]any) (any, error) {
	c := r.c
	switch f.Name {
	case "name":
		return c.Name, nil
	case "delta":
		return c.Delta, nil
	case "quantityAfterChange":
		return c.After, nil
	case "ledgerDocumentUri":
		return nilString(r.g.Reference), nil
	case "item":
		return x.itemObj(x.st.Items[c.ItemID]), nil
	case "location":
		return x.locationObj(x.st.Locations[c.LocationID]), nil
	}
	return nil, nil
}

type opR struct{ o *opInfo }

func (r opR) typeName() string {
	if r.o.Field == "productDeleteOperation" {
		return "ProductDeleteOperation"
	}
	return "ProductSetOperation"
}

func (r opR) field(x *execCtx, f *ast.Field, _ map[string]any) (any, error) {
	switch f.Name {
	case "id":
		return gid(r.typeName(), r.o.ID), nil
	case "status":
		return "COMPLETE", nil
	case "product":
		if r.o.Product == "" {
			return nil, nil
		}
		return x.resolveGID(r.o.Product), nil
	case "deletedProductId":
		return nilString(r.o.DeletedID), nil
	case "userErrors":
		return []resolver{}, nil
	}
	return nil, nil
}

// fieldPath builds a userError field path from names and indexes.
func fieldPath(parts ...any) []string {
	out := make([]string, len(parts))
	for i, p := range parts {
		switch v := p.(type) {
		case string:
			out[i] = v
		case int:
			out[i] = strconv.Itoa(v)
		}
	}
	return out
}
