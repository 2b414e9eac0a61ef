package storage

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"eventops/engine"
)

// errTxDone is returned by a Tx method called after its function returned.
var errTxDone = errors.New("storage: transaction used after its function returned")

// tx implements engine.Tx on one transaction of either store (see kvTx). It
// is valid only while the function it was handed to runs; afterwards every
// method fails with errTxDone instead of touching a closed transaction.
type tx struct {
	kv    kvTx
	cache *caches
	wrote bool // set before the first change, so a failed function that wrote nothing needs no rollback
}

var _ engine.Tx = (*tx)(nil)

// run hands fn a tx on kv and invalidates it when fn returns.
func run(kv kvTx, cache *caches, fn func(engine.Tx) error) error {
	t := &tx{kv: kv, cache: cache}
	defer func() { t.kv = nil }()
	return fn(t)
}

// writable returns a top-level bucket to change, noting that the
// transaction is about to be written.
func (t *tx) writable(name []byte) (kvBucket, error) {
	return t.open(name, true, false)
}

// bucket returns a top-level bucket; every method starts here, so it is
// where a use after the function returned is caught.
func (t *tx) bucket(name []byte) (kvBucket, error) {
	return t.open(name, false, false)
}

func (t *tx) open(name []byte, write, create bool) (kvBucket, error) {
	if t.kv == nil {
		return nil, errTxDone
	}
	b, err := t.kv.bucket(name, write, create)
	if err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", name, err)
	}
	if b == nil {
		return nil, fmt.Errorf("storage: bucket %q is missing", name)
	}
	if write {
		t.wrote = true
	}
	return b, nil
}

// InstallationID is the id Open recorded in the meta bucket.
func (t *tx) InstallationID() (string, error) {
	b, err := t.bucket(bkMeta)
	if err != nil {
		return "", err
	}
	id := string(b.Get(keyInstallationID))
	if !engine.ValidInstallationID(id) {
		return "", fmt.Errorf("storage: installation id %q is missing or malformed", id)
	}
	return id, nil
}

// ShopifyApp reads the installation's public app from the meta bucket.
func (t *tx) ShopifyApp() (*engine.ShopifyApp, error) {
	b, err := t.bucket(bkMeta)
	if err != nil {
		return nil, err
	}
	raw := b.Get(keyShopifyApp)
	if raw == nil {
		return nil, nil
	}
	var a engine.ShopifyApp
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, fmt.Errorf("storage: shopify app: %w", err)
	}
	return &a, nil
}

// PutShopifyApp stores the installation's public app.
func (t *tx) PutShopifyApp(a *engine.ShopifyApp) error {
	b, err := t.writable(bkMeta)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return b.Put(keyShopifyApp, raw)
}

// NextID returns the next id of seq, starting at 1. Operations and phases
// share engine.SeqOperation. An id handed out by a transaction that rolls
// back is handed out again.
func (t *tx) NextID(seq engine.Sequence) (uint64, error) {
	if seq == "" {
		return 0, errors.New("next id: empty sequence name")
	}
	b, err := t.writable(bkSeq)
	if err != nil {
		return 0, err
	}
	var n uint64
	if v := b.Get([]byte(seq)); len(v) == 8 {
		n = binary.BigEndian.Uint64(v)
	}
	n++
	if err := b.Put([]byte(seq), idKey(n)); err != nil {
		return 0, fmt.Errorf("next %s id: %w", seq, err)
	}
	if p, ok := t.kv.(*pgKV); ok {
		if tb := seqTables[seq]; tb != "" {
			// The record's Put reads its key first (for index entries
			// of an older version): a new id's key is absent.
			p.assumeFresh(tb, idKey(n))
		}
	}
	return n, nil
}

// seqTables names the table whose records are keyed by each sequence's ids.
var seqTables = map[engine.Sequence]string{
	engine.SeqOperation:       string(tbOperations.name),
	engine.SeqCompany:         string(tbCompanies.name),
	engine.SeqAPIKey:          string(tbAPIKeys.name),
	engine.SeqUser:            string(tbUsers.name),
	engine.SeqVenue:           string(tbVenues.name),
	engine.SeqTicketType:      string(tbTicketTypes.name),
	engine.SeqEvent:           string(tbEvents.name),
	engine.SeqOrder:           string(tbOrders.name),
	engine.SeqAudit:           string(tbAudit.name),
	engine.SeqWebhookEndpoint: string(tbEndpoints.name),
	engine.SeqDelivery:        string(tbDeliveries.name),
}
