package shopify

import (
	"cmp"
	"context"
	"strconv"
	"strings"
	"time"

	"eventops/engine"
)

// metafieldNamespace is app-owned: other apps cannot write it.
const metafieldNamespace = "$app:events"

// metafieldsBatch is metafieldsSet's limit per call.
const metafieldsBatch = 25

// metafieldsWork writes the event's facts on its products (dates, venue,
// time zone, event and occurrence ids) and each variant's registration type
// id, in batches of at most 25. metafieldsSet sets absolute values, so a
// batch re-sent after a lost answer changes nothing more.
type metafieldsWork struct{ s *service }

// Expand implements engine.Expander: one child per product.
func (w metafieldsWork) Expand(ctx context.Context, r *engine.PhaseRun) ([]*engine.Phase, error) {
	return expandTargets(r)
}

// Run implements engine.Work.
func (w metafieldsWork) Run(ctx context.Context, r *engine.PhaseRun) error {
	if r.Op.Action != engine.ActionSave {
		return nil
	}
	sr, ts, err := w.s.begin(r)
	if err != nil {
		return err
	}
	var fields []map[string]any
	for _, t := range ts {
		fields = append(fields, metafieldsOf(t)...)
	}
	r.SetUnits(len(fields))
	for start := 0; start < len(fields); start += metafieldsBatch {
		end := min(start+metafieldsBatch, len(fields))
		batch := fields[start:end]
		var out struct {
			MetafieldsSet struct {
				UserErrors UserErrors `json:"userErrors"`
			} `json:"metafieldsSet"`
		}
		err := sr.client.Do(ctx, Call{Name: "MetafieldsSet", Query: mMetafieldsSet, Resendable: true,
			Variables: map[string]any{"metafields": batch}}, &out)
		if err != nil {
			return phaseErr(ctx, err, engine.CodeMetafieldsValueRejected, "set metafields")
		}
		if ue := out.MetafieldsSet.UserErrors; len(ue) > 0 {
			// An owner deleted in the shop is refused too: that is the
			// condition every phase names alike.
			owners := make([]string, 0, len(batch))
			for _, f := range batch {
				if o := f["ownerId"].(string); strings.HasPrefix(o, "gid://shopify/Product/") {
					owners = append(owners, o) // a variant goes with its product
				}
			}
			if gone, err := sr.vanished(ctx, owners...); err != nil || gone != "" {
				return cmp.Or(err, errVanished("product %s", gone))
			}
			return engine.Errorf(engine.CodeMetafieldsValueRejected, "the shop refused metafields: %v", ue)
		}
		if len(fields) > metafieldsBatch {
			r.Progress(end, len(fields))
		}
	}
	return nil
}

// metafieldsOf lists a mirrored product's metafields (none before catalog
// recorded its ids).
func metafieldsOf(t *target) []map[string]any {
	pid := t.product.ShopifyProductID
	if pid == "" {
		return nil
	}
	root := t.occ.ID
	if t.occ.ParentID != 0 {
		root = t.occ.ParentID
	}
	mf := func(owner, key, typ, value string) map[string]any {
		return map[string]any{"ownerId": owner, "namespace": metafieldNamespace, "key": key, "type": typ, "value": value}
	}
	out := []map[string]any{
		mf(pid, "starts_at", "date_time", t.occ.StartsAt.UTC().Format(time.RFC3339)),
		mf(pid, "ends_at", "date_time", t.occ.EndsAt.UTC().Format(time.RFC3339)),
		mf(pid, "event_id", "number_integer", strconv.FormatUint(root, 10)),
		mf(pid, "occurrence_id", "number_integer", strconv.FormatUint(t.occ.ID, 10)),
	}
	if t.venue != nil {
		if t.venue.Name != "" {
			out = append(out, mf(pid, "venue", "single_line_text_field", t.venue.Name))
		}
		if t.venue.TimeZone != "" {
			out = append(out, mf(pid, "time_zone", "single_line_text_field", t.venue.TimeZone))
		}
	}
	for _, v := range t.product.Variants {
		if v.ShopifyVariantID != "" {
			out = append(out, mf(v.ShopifyVariantID, "registration_type_id", "number_integer", strconv.FormatUint(v.RegistrationTypeID, 10)))
		}
	}
	return out
}
