package shopify

import (
	"context"
	"time"

	"eventops/engine"
)

// publishWork publishes the products to the online store (save) or
// withdraws them (delete). A save of an event without published_at
// withdraws them too; a published_at in the future is passed to the shop
// as the publish date. Publishing and withdrawing are idempotent, so a lost
// answer may be re-sent.
type publishWork struct{ s *service }

// Expand implements engine.Expander: one child per product.
func (w publishWork) Expand(ctx context.Context, r *engine.PhaseRun) ([]*engine.Phase, error) {
	return expandTargets(r)
}

// Run implements engine.Work.
func (w publishWork) Run(ctx context.Context, r *engine.PhaseRun) error {
	sr, ts, err := w.s.begin(r)
	if err != nil {
		return err
	}
	deleting := r.Op.Action == engine.ActionDelete
	pub, err := w.publication(ctx, sr, deleting)
	if err != nil {
		return err
	}
	r.SetUnits(len(ts))
	for i, t := range ts {
		id := t.product.ShopifyProductID
		if deleting && id == "" {
			found, err := sr.productByHandle(ctx, t.product.Handle, 1)
			if err != nil {
				return err
			}
			if found != nil {
				id = found.ID
			}
		}
		if id == "" || pub == "" {
			continue // nothing in the shop, or nowhere to withdraw from
		}
		withdraw := deleting || t.occ.PublishedAt == nil
		if err := w.send(ctx, sr, id, pub, withdraw, t.occ.PublishedAt); err != nil {
			return err
		}
		if len(ts) > 1 {
			r.Progress(i+1, len(ts))
		}
	}
	return nil
}

// publication is the online store's publication id: remembered by set-up,
// else looked up (and remembered). A save without one fails with
// PUBLISH_CHANNEL_NOT_FOUND; a delete has nothing to withdraw from.
func (w publishWork) publication(ctx context.Context, sr *shopRun, deleting bool) (string, error) {
	if su := sr.company.Shop.Setup; su != nil && su.PublicationID != "" {
		return su.PublicationID, nil
	}
	var out struct {
		Publications struct {
			Nodes []publicationNode `json:"nodes"`
		} `json:"publications"`
	}
	if err := sr.client.Do(ctx, Call{Name: "Publications", Query: qPublications, Resendable: true}, &out); err != nil {
		return "", phaseErr(ctx, err, engine.CodePublishChannelNotFound, "list publications")
	}
	id := findOnlineStore(out.Publications.Nodes)
	if id == "" {
		if deleting {
			return "", nil
		}
		return "", engine.Errorf(engine.CodePublishChannelNotFound, "the shop has no %q publication", onlineStore)
	}
	if su := sr.company.Shop.Setup; su != nil {
		cp := *su
		cp.PublicationID = id
		if err := sr.rememberSetup(ctx, &cp); err != nil {
			return "", err
		}
	}
	return id, nil
}

func (w publishWork) send(ctx context.Context, sr *shopRun, product, publication string, withdraw bool, at *time.Time) error {
	input := map[string]any{"publicationId": publication}
	name, query, field := "Publish", mPublish, "publishablePublish"
	if withdraw {
		name, query, field = "Unpublish", mUnpublish, "publishableUnpublish"
	} else if at != nil && at.After(sr.r.Now()) {
		input["publishDate"] = at.UTC().Format(time.RFC3339)
	}
	var out map[string]*struct {
		UserErrors UserErrors `json:"userErrors"`
	}
	err := sr.client.Do(ctx, Call{Name: name, Query: query, Resendable: true,
		Variables: map[string]any{"id": product, "input": []map[string]any{input}}}, &out)
	if err != nil {
		return phaseErr(ctx, err, engine.CodePublishChannelNotFound, name+" "+product)
	}
	p := out[field]
	if p == nil || len(p.UserErrors) == 0 {
		return nil
	}
	exists, err := sr.productExists(ctx, product)
	if err != nil {
		return err
	}
	if !exists {
		if withdraw {
			return nil // gone: nothing left to withdraw
		}
		return errVanished("product %s", product)
	}
	return engine.Errorf(engine.CodePublishChannelNotFound, "the shop refused to %s product %s: %v", name, product, p.UserErrors)
}
