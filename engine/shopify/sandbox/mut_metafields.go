package sandbox

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Metafields: metafieldsSet (at most 25 per call, all or nothing) and the
// metafields lists of productSet. Values are strings validated against
// their type; "$app:..." namespaces resolve to the app's own namespace.

const (
	maxMetafieldsPerCall = 25
	maxMetafieldValue    = 65535 // bytes
	maxMetafieldKey      = 64
	minMetafieldKey      = 2
	maxNamespace         = 255
	minNamespace         = 3
)

var metafieldNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// metafieldTypes validates a value per supported type.
var metafieldTypes = map[string]func(string) bool{
	"single_line_text_field": func(v string) bool { return !strings.ContainsAny(v, "\r\n") },
	"multi_line_text_field":  func(string) bool { return true },
	"number_integer": func(v string) bool {
		n, err := strconv.ParseInt(v, 10, 64)
		return err == nil && n <= 9007199254740991 && n >= -9007199254740991
	},
	"number_decimal": func(v string) bool {
		_, err := strconv.ParseFloat(v, 64)
		return err == nil && !strings.ContainsAny(v, "eE")
	},
	"boolean": func(v string) bool { return v == "true" || v == "false" },
	"date": func(v string) bool {
		_, err := time.Parse("2006-01-02", v)
		return err == nil
	},
	"date_time": func(v string) bool {
		for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02T15:04"} {
			if _, err := time.Parse(layout, v); err == nil {
				return true
			}
		}
		return false
	},
	"json": func(v string) bool { return json.Valid([]byte(v)) },
	"url": func(v string) bool {
		u, err := url.Parse(v)
		if err != nil {
			return false
		}
		switch u.Scheme {
		case "http", "https":
			return u.Host != ""
		case "mailto", "sms", "tel":
			return u.Opaque != "" || u.Path != ""
		}
		return false
	},
	"product_reference": func(v string) bool { t, _, _, ok := parseGID(v); return ok && t == "Product" },
	"variant_reference": func(v string) bool { t, _, _, ok := parseGID(v); return ok && t == "ProductVariant" },
	"list.single_line_text_field": func(v string) bool {
		var l []string
		return json.Unmarshal([]byte(v), &l) == nil
	},
}

// mfPlan is one validated metafield write.
type mfPlan struct {
	owner     ownerRef
	namespace string
	key       string
	typ       string
	value     string
}

// mfCheck is a metafield input's problem: a code, a message and the input
// field at fault.
type mfCheck struct {
	code, msg, field string
}

// checkMetafield validates one write against its type and the existing
// metafield (whose type it must keep).
func (x *execCtx) checkMetafield(owner ownerRef, nsIn string, key, typ string, value string, compareDigest *string) (mfPlan, *mfCheck) {
	ns := resolveNamespace(nsIn)
	pl := mfPlan{owner: owner, namespace: ns, key: key, typ: typ, value: value}
	switch {
	case key == "":
		return pl, &mfCheck{"BLANK", "Key can't be blank", "key"}
	case utf8.RuneCountInString(key) < minMetafieldKey:
		return pl, &mfCheck{"TOO_SHORT", fmt.Sprintf("Key is too short (minimum is %d characters)", minMetafieldKey), "key"}
	case utf8.RuneCountInString(key) > maxMetafieldKey:
		return pl, &mfCheck{"TOO_LONG", fmt.Sprintf("Key is too long (maximum is %d characters)", maxMetafieldKey), "key"}
	case !metafieldNameRE.MatchString(key):
		return pl, &mfCheck{"INVALID", "Key contains one or more invalid characters", "key"}
	case len(ns) < minNamespace:
		return pl, &mfCheck{"TOO_SHORT", fmt.Sprintf("Namespace is too short (minimum is %d characters)", minNamespace), "namespace"}
	case len(ns) > maxNamespace:
		return pl, &mfCheck{"TOO_LONG", fmt.Sprintf("Namespace is too long (maximum is %d characters)", maxNamespace), "namespace"}
	case !metafieldNameRE.MatchString(ns):
		return pl, &mfCheck{"INVALID", "Namespace contains one or more invalid characters", "namespace"}
	}
	var existing *metafield
	if owner.ID != 0 {
		existing = x.st.metafieldOf(owner, ns, key)
	}
	if typ == "" {
		if existing == nil {
			return pl, &mfCheck{"BLANK", "Type can't be blank", "type"}
		}
		pl.typ = existing.Type
	}
	valid, known := metafieldTypes[pl.typ]
	switch {
	case !known:
		return pl, &mfCheck{"INVALID_TYPE", fmt.Sprintf("Type '%s' is not a valid type", pl.typ), "type"}
	case existing != nil && existing.Type != pl.typ:
		return pl, &mfCheck{"INVALID_TYPE", fmt.Sprintf("Type must be the same as the existing metafield's ('%s')", existing.Type), "type"}
	case strings.TrimSpace(value) == "":
		return pl, &mfCheck{"BLANK", "Value can't be blank", "value"}
	case len(value) > maxMetafieldValue:
		return pl, &mfCheck{"TOO_LONG", fmt.Sprintf("Value is too long (maximum is %d bytes)", maxMetafieldValue), "value"}
	case !valid(value):
		return pl, &mfCheck{"INVALID_VALUE", fmt.Sprintf("Value is invalid for type '%s'", pl.typ), "value"}
	}
	if compareDigest != nil {
		switch {
		case *compareDigest == "":
			return pl, &mfCheck{"INVALID_COMPARE_DIGEST", "The compareDigest is invalid", "compareDigest"}
		case existing == nil || digest(existing) != *compareDigest:
			return pl, &mfCheck{"STALE_OBJECT", "The metafield has been modified since it was loaded", "compareDigest"}
		}
	}
	return pl, nil
}

// planMetafieldInputs validates a productSet metafields list (MetafieldInput).
func (x *execCtx) planMetafieldInputs(owner ownerRef, in []any, base []any) ([]mfPlan, []userError) {
	var out []mfPlan
	var errs []userError
	for i, raw := range in {
		m, _ := raw.(map[string]any)
		at := func(f string) []string { return fieldPath(append(append([]any{}, base...), i, f)...) }
		pl, bad := x.checkMetafield(owner, strArg(m, "namespace"), strArg(m, "key"), strArg(m, "type"), strArg(m, "value"), nil)
		if bad != nil {
			errs = append(errs, userError{Field: at(bad.field), Code: "INVALID_METAFIELD", Message: bad.msg})
			continue
		}
		out = append(out, pl)
	}
	return out, errs
}

// replaceMetafields makes an owner's metafields exactly the planned ones.
func (x *execCtx) replaceMetafields(owner ownerRef, plans []mfPlan) {
	keep := map[string]bool{}
	for _, pl := range plans {
		keep[pl.namespace+"\x00"+pl.key] = true
		x.upsertMetafield(owner, pl.namespace, pl.key, pl.typ, pl.value)
	}
	for _, m := range x.st.metafieldsOf(owner) {
		if !keep[m.Namespace+"\x00"+m.Key] {
			x.st.deleteMetafield(m)
		}
	}
}

func (x *execCtx) upsertMetafield(owner ownerRef, ns, key, typ, value string) *metafield {
	st := x.st
	m := st.metafieldOf(owner, ns, key)
	if m == nil {
		m = &metafield{ID: st.next(seqMetafield), Owner: owner, Namespace: ns, Key: key, CreatedAt: x.now}
	}
	m.Type, m.Value, m.UpdatedAt = typ, value, x.now
	st.putMetafield(m)
	return m
}

// ownerOf resolves a metafield owner id to a reference; ok false when the
// owner does not exist or cannot hold metafields.
func (x *execCtx) ownerOf(id string) (ownerRef, bool) {
	typ, n, _, ok := parseGID(id)
	if !ok {
		return ownerRef{}, false
	}
	st := x.st
	switch typ {
	case "Product":
		ok = st.Products[n] != nil
	case "ProductVariant":
		ok = st.Variants[n] != nil
	case "Location":
		ok = st.Locations[n] != nil
	case "Order":
		ok = st.Orders[n] != nil
	case "Shop":
		ok = n == st.Meta.Number
	default:
		ok = false
	}
	return ownerRef{typ, n}, ok
}

func metafieldsSet(x *execCtx, a map[string]any) *mutResult {
	in, _ := listArg(a, "metafields")
	if len(in) > maxMetafieldsPerCall {
		return failed(uerr("LESS_THAN_OR_EQUAL_TO",
			fmt.Sprintf("Exceeded the maximum metafields input limit of %d.", maxMetafieldsPerCall), "metafields"))
	}
	var errs []userError
	plans := make([]mfPlan, 0, len(in))
	seen := map[string]int{}
	for i, raw := range in {
		m, _ := raw.(map[string]any)
		idx := i
		at := func(f string) []string { return fieldPath("metafields", i, f) }
		owner, ok := x.ownerOf(strArg(m, "ownerId"))
		if !ok {
			errs = append(errs, userError{Field: at("ownerId"), Code: "INVALID", Message: "Owner does not exist", ElementIndex: &idx})
			continue
		}
		pl, bad := x.checkMetafield(owner, strArg(m, "namespace"), strArg(m, "key"), strArg(m, "type"), strArg(m, "value"), strPtr(m, "compareDigest"))
		if bad != nil {
			errs = append(errs, userError{Field: at(bad.field), Code: bad.code, Message: bad.msg, ElementIndex: &idx})
			continue
		}
		k := owner.gid() + "\x00" + pl.namespace + "\x00" + pl.key
		if j, dup := seen[k]; dup {
			errs = append(errs, userError{Field: at("key"), Code: "TAKEN",
				Message: fmt.Sprintf("The same metafield was given twice (elements %d and %d)", j, i), ElementIndex: &idx})
			continue
		}
		seen[k] = i
		plans = append(plans, pl)
	}
	if len(errs) > 0 {
		return failed(errs...)
	}
	ids := make([]string, 0, len(plans))
	for _, pl := range plans {
		m := x.upsertMetafield(pl.owner, pl.namespace, pl.key, pl.typ, pl.value)
		ids = append(ids, gid("Metafield", m.ID))
	}
	return &mutResult{Lists: map[string][]string{"metafields": ids}}
}
