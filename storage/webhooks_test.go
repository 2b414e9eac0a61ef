package storage

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"eventops/engine"
)

// A delivery is remembered per company by its webhook id, and survives a
// reopen of the file; pruning forgets the old ones only.
func TestWebhookDeliveries(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "eventops.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	update(t, db, func(tx engine.Tx) error {
		for i, w := range []*engine.WebhookRecord{
			{CompanyID: 1, ID: "aaa", Topic: "orders/create", ReceivedAt: base, Outcome: "recorded", OrderIDs: []uint64{4}},
			{CompanyID: 1, ID: "bbb", Topic: "refunds/create", ReceivedAt: base.Add(time.Hour)},
			{CompanyID: 2, ID: "aaa", Topic: "orders/create", ReceivedAt: base.Add(2 * time.Hour)},
		} {
			if err := tx.PutWebhook(w); err != nil {
				t.Errorf("put %d: %v", i, err)
			}
		}
		if err := tx.PutWebhook(&engine.WebhookRecord{CompanyID: 1}); err == nil {
			t.Error("a delivery without an id was stored")
		}
		return nil
	})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if db, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := db.Check(); err != nil {
			t.Error(err)
		}
		db.Close()
	}()
	view(t, db, func(tx engine.Tx) error {
		w, err := tx.Webhook(1, "aaa")
		if err != nil || w == nil || w.Topic != "orders/create" || len(w.OrderIDs) != 1 || w.OrderIDs[0] != 4 {
			t.Errorf("webhook 1/aaa = %+v, %v", w, err)
		}
		if w, _ := tx.Webhook(3, "aaa"); w != nil {
			t.Errorf("company 3 sees company 1's delivery: %+v", w)
		}
		if w, _ := tx.Webhook(1, "aa"); w != nil {
			t.Errorf("a prefix of an id finds a delivery: %+v", w)
		}
		return nil
	})
	var n int
	update(t, db, func(tx engine.Tx) error {
		n, err = tx.PruneWebhooks(base.Add(90*time.Minute), 10)
		return err
	})
	if n != 2 {
		t.Errorf("pruned %d, want 2", n)
	}
	view(t, db, func(tx engine.Tx) error {
		for _, k := range []struct {
			company uint64
			id      string
			kept    bool
		}{{1, "aaa", false}, {1, "bbb", false}, {2, "aaa", true}} {
			w, err := tx.Webhook(k.company, k.id)
			if err != nil || (w != nil) != k.kept {
				t.Errorf("after pruning, %d/%s = %+v, %v", k.company, k.id, w, err)
			}
		}
		return nil
	})
}

// Orders are found by their shop order, per company, and never by another
// shop order whose id merely starts the same.
func TestShopOrders(t *testing.T) {
	t.Parallel()
	db := setup(t)
	orders := []*engine.Order{
		{ID: 1, CompanyID: 7, EventID: 3, ShopifyOrderID: "gid://shopify/Order/1", Status: engine.OrderPaid},
		{ID: 2, CompanyID: 7, EventID: 3, ShopifyOrderID: "gid://shopify/Order/12", Status: engine.OrderPaid},
		{ID: 3, CompanyID: 8, EventID: 4, ShopifyOrderID: "gid://shopify/Order/1", Status: engine.OrderPaid},
		{ID: 4, CompanyID: 7, EventID: 5, ShopifyOrderID: "gid://shopify/Order/1", Status: engine.OrderRefunded},
		{ID: 5, CompanyID: 7, EventID: 5}, // box office: not indexed
	}
	update(t, db, func(tx engine.Tx) error {
		for _, o := range orders {
			if err := tx.PutOrder(o); err != nil {
				return err
			}
			if err := tx.IndexShopOrder(o); err != nil {
				return err
			}
		}
		// A later write of the order (refunded, say) keeps it findable.
		orders[0].Status = engine.OrderRefunded
		return tx.PutOrder(orders[0])
	})
	view(t, db, func(tx engine.Tx) error {
		got, err := tx.ShopOrders(7, "gid://shopify/Order/1")
		if err != nil || len(got) != 2 || got[0].ID != 1 || got[1].ID != 4 || got[0].Status != engine.OrderRefunded {
			t.Errorf("company 7, order 1 = %+v, %v", got, err)
		}
		if got, _ := tx.ShopOrders(8, "gid://shopify/Order/1"); len(got) != 1 || got[0].ID != 3 {
			t.Errorf("company 8, order 1 = %+v", got)
		}
		if got, _ := tx.ShopOrders(7, "gid://shopify/Order/123"); len(got) != 0 {
			t.Errorf("unknown shop order = %+v", got)
		}
		if got, _ := tx.ShopOrders(7, ""); len(got) != 0 {
			t.Errorf("empty shop order id = %+v", got)
		}
		// The event index is untouched by the shop order index.
		if got, _ := tx.Orders(5); len(got) != 2 {
			t.Errorf("orders of event 5 = %+v", got)
		}
		return nil
	})
	if err := db.Update(context.Background(), func(tx engine.Tx) error {
		return tx.IndexShopOrder(&engine.Order{ShopifyOrderID: "gid://shopify/Order/9"})
	}); err == nil {
		t.Error("an order without ids was indexed")
	}
}
