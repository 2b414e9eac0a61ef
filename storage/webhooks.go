package storage

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"eventops/engine"
)

// Shopify webhook deliveries, and orders by shop order (engine/webhooks.go).
//
//	webhooks              company|webhook id                → engine.WebhookRecord
//	idx_webhook_received  received_at|company|webhook id    (pruning)
//	idx_order_shopify     company|shopify order id|order id
//
// idx_order_shopify is kept by IndexShopOrder rather than by PutOrder's
// record header: an order's shop order id never changes and orders are
// never deleted, so the entry written with the order stays true. ShopOrders
// still checks each order it finds, so a stray entry could only be skipped,
// never answered.

// webhookKey is the primary key of a delivery: company, then webhook id.
func webhookKey(companyID uint64, id string) []byte { return key(nil).u64(companyID).str(id) }

// Webhook returns the record of a delivery, or (nil, nil).
func (t *tx) Webhook(companyID uint64, webhookID string) (*engine.WebhookRecord, error) {
	return getKey[engine.WebhookRecord](t, tbWebhooks, webhookKey(companyID, webhookID))
}

// PutWebhook writes w under (company, webhook id), indexed by when it was
// received.
func (t *tx) PutWebhook(w *engine.WebhookRecord) error {
	if w == nil {
		return errors.New("store webhook delivery: nil")
	}
	if w.CompanyID == 0 || w.ID == "" {
		return errors.New("store webhook delivery: company and webhook id are required")
	}
	pk := webhookKey(w.CompanyID, w.ID)
	return t.putKey(tbWebhooks, pk, w, []entry{
		{idx: idxWebhookReceived, key: key(nil).time(w.ReceivedAt).append(pk)},
	})
}

// PruneWebhooks deletes up to limit deliveries received before the given
// time, oldest first. It reads only the received index, so its cost follows
// limit, not the number stored.
func (t *tx) PruneWebhooks(before time.Time, limit int) (int, error) {
	return t.pruneBefore(tbWebhooks, idxWebhookReceived, before, limit)
}

func shopOrderPrefix(companyID uint64, shopifyOrderID string) key {
	return key(nil).u64(companyID).str(shopifyOrderID)
}

// IndexShopOrder adds o to idx_order_shopify; an order without a shop
// order id is not indexed.
func (t *tx) IndexShopOrder(o *engine.Order) error {
	if o == nil {
		return errors.New("index shop order: nil")
	}
	if o.ShopifyOrderID == "" {
		return nil
	}
	if o.ID == 0 || o.CompanyID == 0 {
		return errors.New("index shop order: order and company ids are required")
	}
	ib, err := t.writable(indexBuckets[idxOrderShopify])
	if err != nil {
		return err
	}
	if err := ib.Put(shopOrderPrefix(o.CompanyID, o.ShopifyOrderID).u64(o.ID), empty); err != nil {
		return fmt.Errorf("index order %d by shop order: %w", o.ID, err)
	}
	return nil
}

// ShopOrders lists the orders of one shop order of a company in id order.
// The list is bounded by the shop order's line items and refunds.
func (t *tx) ShopOrders(companyID uint64, shopifyOrderID string) ([]*engine.Order, error) {
	if shopifyOrderID == "" {
		return nil, nil
	}
	ib, err := t.bucket(indexBuckets[idxOrderShopify])
	if err != nil {
		return nil, err
	}
	prefix := shopOrderPrefix(companyID, shopifyOrderID)
	var out []*engine.Order
	c := ib.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		o, err := get[engine.Order](t, tbOrders, idOf(k))
		if err != nil {
			return nil, err
		}
		if o == nil || o.CompanyID != companyID || o.ShopifyOrderID != shopifyOrderID {
			continue // a key string cut at maxKeyString, or a stray entry
		}
		out = append(out, o)
	}
	return out, nil
}
