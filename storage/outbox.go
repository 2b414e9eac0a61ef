package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"time"

	"eventops/engine"
)

// Outbound webhooks (engine/webhook_endpoints.go, engine/outbox.go).
//
//	webhook_endpoints      id                    → engine.WebhookEndpoint
//	idx_endpoint_company   company|id
//	webhook_deliveries     id                    → engine.Delivery
//	idx_delivery_endpoint  endpoint|id           (the endpoint's log)
//	idx_delivery_company   company|id            (the feed)
//	idx_delivery_due       next attempt|id       while pending (the worker)
//	idx_delivery_pending   id                    while pending (the oldest)
//	idx_delivery_finished  finished at|id        once finished (pruning)

var _ engine.WebhookTx = (*tx)(nil)

// WebhookEndpoint returns an endpoint, or (nil, nil).
func (t *tx) WebhookEndpoint(id uint64) (*engine.WebhookEndpoint, error) {
	return get[engine.WebhookEndpoint](t, tbEndpoints, id)
}

// PutWebhookEndpoint writes an endpoint under its id.
func (t *tx) PutWebhookEndpoint(ep *engine.WebhookEndpoint) error {
	if ep == nil || ep.ID == 0 || ep.CompanyID == 0 {
		return errors.New("store webhook endpoint: id and company are required")
	}
	return t.put(tbEndpoints, ep.ID, ep, []entry{
		{idx: idxEndpointCompany, key: key(nil).u64(ep.CompanyID).u64(ep.ID)},
	})
}

// DeleteWebhookEndpoint removes an endpoint; its deliveries stay (the worker
// drops pending ones, pruning the rest).
func (t *tx) DeleteWebhookEndpoint(id uint64) error {
	return t.remove(tbEndpoints, idKey(id))
}

// WebhookEndpoints lists a company's endpoints in id order; 0 lists all.
func (t *tx) WebhookEndpoints(companyID uint64) ([]*engine.WebhookEndpoint, error) {
	if companyID == 0 {
		return all[engine.WebhookEndpoint](t, tbEndpoints)
	}
	return byIndex[engine.WebhookEndpoint](t, tbEndpoints, idxEndpointCompany, key(nil).u64(companyID))
}

// Delivery returns a delivery, or (nil, nil).
func (t *tx) Delivery(id uint64) (*engine.Delivery, error) {
	return get[engine.Delivery](t, tbDeliveries, id)
}

// PutDelivery writes a delivery; while pending it sits in the due and
// pending indexes, once finished in the finished one.
func (t *tx) PutDelivery(d *engine.Delivery) error {
	if d == nil || d.ID == 0 || d.CompanyID == 0 || d.EndpointID == 0 {
		return errors.New("store outbound delivery: id, company and endpoint are required")
	}
	entries := []entry{
		{idx: idxDeliveryEndpoint, key: key(nil).u64(d.EndpointID).u64(d.ID)},
		{idx: idxDeliveryCompany, key: key(nil).u64(d.CompanyID).u64(d.ID)},
	}
	if d.Status == engine.DeliveryPending {
		entries = append(entries,
			entry{idx: idxDeliveryDue, key: key(nil).time(d.NextAttemptAt).u64(d.ID)},
			entry{idx: idxDeliveryPending, key: idKey(d.ID)})
	} else if d.FinishedAt != nil {
		entries = append(entries, entry{idx: idxDeliveryFinished, key: key(nil).time(*d.FinishedAt).u64(d.ID)})
	}
	return t.put(tbDeliveries, d.ID, d, entries)
}

// DueDeliveries lists the ids of pending deliveries due at or before now,
// soonest first, and when the next one after those is due (zero: none).
// It reads only the due index: its cost follows limit.
func (t *tx) DueDeliveries(now time.Time, limit int) ([]uint64, time.Time, error) {
	ib, err := t.bucket(indexBuckets[idxDeliveryDue])
	if err != nil {
		return nil, time.Time{}, err
	}
	end := key(nil).time(now).maxID()
	var out []uint64
	c := ib.Cursor()
	k, _ := c.First()
	for ; k != nil && bytes.Compare(k, end) <= 0 && len(out) < limit; k, _ = c.Next() {
		out = append(out, idOf(k))
	}
	var next time.Time
	if k != nil && len(k) == 16 {
		next = time.Unix(0, int64(binary.BigEndian.Uint64(k[:8])^(1<<63)))
	}
	return out, next, nil
}

// OldestPendingDelivery is the pending delivery with the smallest id.
func (t *tx) OldestPendingDelivery() (*engine.Delivery, error) {
	ib, err := t.bucket(indexBuckets[idxDeliveryPending])
	if err != nil {
		return nil, err
	}
	k, _ := ib.Cursor().First()
	if k == nil {
		return nil, nil
	}
	return t.Delivery(idOf(k))
}

// Deliveries lists an endpoint's or a company's deliveries: newest first
// below q.Before, or (Ascending) oldest first above q.After. Its cost follows q.Limit.
func (t *tx) Deliveries(q engine.DeliveryQuery) ([]*engine.Delivery, error) {
	idx, prefix := idxDeliveryCompany, key(nil).u64(q.CompanyID)
	if q.EndpointID != 0 {
		idx, prefix = idxDeliveryEndpoint, key(nil).u64(q.EndpointID)
	}
	ib, err := t.bucket(indexBuckets[idx])
	if err != nil {
		return nil, err
	}
	limit := clampLimit(q.Limit)
	var out []*engine.Delivery
	c := ib.Cursor()
	var k []byte
	step := c.Next
	if q.Ascending {
		k, _ = c.Seek(append(clone(prefix), idKey(q.After+1)...))
	} else {
		step = c.Prev
		upper := append(clone(prefix), key(nil).maxID()...)
		if q.Before != 0 {
			upper = append(clone(prefix), idKey(q.Before)...)
		}
		k, _ = c.Seek(upper)
		if k == nil {
			k, _ = c.Last()
		} else if bytes.Compare(k, upper) >= 0 {
			k, _ = c.Prev()
		}
	}
	for ; k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, _ = step() {
		d, err := t.Delivery(idOf(k))
		if err != nil {
			return nil, err
		}
		if d != nil {
			out = append(out, d)
		}
	}
	return out, nil
}

// PruneDeliveries deletes up to limit finished deliveries finished before
// the given time, oldest first.
func (t *tx) PruneDeliveries(before time.Time, limit int) (int, error) {
	return t.pruneBefore(tbDeliveries, idxDeliveryFinished, before, limit)
}
