package sandbox

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The sandbox's own bbolt file. Layout:
//
//	meta/schema          "1"
//	meta/shop_seq        the number of the last shop created
//	shops/<name>/meta    the shop's credentials, flags and id sequences
//	shops/<name>/<kind>/<id>  one JSON record per product, variant, ...
//
// Every GraphQL mutation, control action and webhook state change writes
// the records it touched in one transaction before anything is answered.

const (
	keyMeta         = "meta"
	kindProduct     = "product"
	kindVariant     = "variant"
	kindItem        = "item"
	kindLocation    = "location"
	kindService     = "service"
	kindPublication = "publication"
	kindMetafield   = "metafield"
	kindWebhook     = "webhook"
	kindOrder       = "order"
	kindRefund      = "refund"
	kindIdem        = "idem"
	kindDelivery    = "delivery"

	schemaVersion = "1"
)

var (
	bucketMeta  = []byte("meta")
	bucketShops = []byte("shops")
)

type store struct {
	db *bolt.DB
}

func openStore(path string) (*store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open sandbox store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if v := meta.Get([]byte("schema")); v != nil && string(v) != schemaVersion {
			return fmt.Errorf("sandbox store schema %q, want %q", v, schemaVersion)
		}
		if err := meta.Put([]byte("schema"), []byte(schemaVersion)); err != nil {
			return err
		}
		_, err = tx.CreateBucketIfNotExists(bucketShops)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("init sandbox store %s: %w", path, err)
	}
	return &store{db: db}, nil
}

func (s *store) close() error { return s.db.Close() }

// load reads every shop and the shop sequence.
func (s *store) load() (map[string]*shopState, int64, error) {
	shops := map[string]*shopState{}
	var seq int64
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get([]byte("shop_seq")); v != nil {
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				return fmt.Errorf("shop_seq: %w", err)
			}
			seq = n
		}
		return tx.Bucket(bucketShops).ForEachBucket(func(name []byte) error {
			st, err := loadShop(tx.Bucket(bucketShops).Bucket(name))
			if err != nil {
				return fmt.Errorf("shop %s: %w", name, err)
			}
			shops[string(name)] = st
			return nil
		})
	})
	if err != nil {
		return nil, 0, fmt.Errorf("load sandbox store: %w", err)
	}
	return shops, seq, nil
}

// loadOne reads one shop again (after a failed commit, the file is the truth).
func (s *store) loadOne(name string) (*shopState, error) {
	var st *shopState
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketShops).Bucket([]byte(name))
		if b == nil {
			return fmt.Errorf("shop %s is not stored", name)
		}
		var err error
		st, err = loadShop(b)
		return err
	})
	return st, err
}

func loadShop(b *bolt.Bucket) (*shopState, error) {
	st := newShopState()
	err := b.ForEach(func(k, v []byte) error {
		key := string(k)
		kind, _, _ := strings.Cut(key, "/")
		var err error
		switch kind {
		case keyMeta:
			err = json.Unmarshal(v, &st.Meta)
		case kindProduct:
			err = loadInto(v, st.Products, func(p *product) int64 { return p.ID })
		case kindVariant:
			err = loadInto(v, st.Variants, func(x *variant) int64 { return x.ID })
		case kindItem:
			err = loadInto(v, st.Items, func(x *invItem) int64 { return x.ID })
		case kindLocation:
			err = loadInto(v, st.Locations, func(x *location) int64 { return x.ID })
		case kindService:
			err = loadInto(v, st.Services, func(x *fService) int64 { return x.ID })
		case kindPublication:
			err = loadInto(v, st.Publications, func(x *publication) int64 { return x.ID })
		case kindMetafield:
			err = loadInto(v, st.Metafields, func(x *metafield) int64 { return x.ID })
		case kindWebhook:
			err = loadInto(v, st.Webhooks, func(x *webhookSub) int64 { return x.ID })
		case kindOrder:
			err = loadInto(v, st.Orders, func(x *order) int64 { return x.ID })
		case kindRefund:
			err = loadInto(v, st.Refunds, func(x *refund) int64 { return x.ID })
		case kindDelivery:
			err = loadInto(v, st.Deliveries, func(x *delivery) int64 { return x.Seq })
		case kindIdem:
			var r idemRecord
			if err = json.Unmarshal(v, &r); err == nil {
				st.Idem[idemKey(r.Mutation, r.Key)] = &r
			}
		default:
			err = fmt.Errorf("unknown record kind %q", kind)
		}
		if err != nil {
			return fmt.Errorf("record %s: %w", key, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if st.Meta.Seq == nil {
		st.Meta.Seq = map[string]int64{}
	}
	for _, it := range st.Items {
		if it.Levels == nil {
			it.Levels = map[int64]*invLevel{}
		}
	}
	st.reindex()
	st.dirty = map[string]struct{}{}
	return st, nil
}

func loadInto[T any](raw []byte, m map[int64]*T, id func(*T) int64) error {
	var x T
	if err := json.Unmarshal(raw, &x); err != nil {
		return err
	}
	m[id(&x)] = &x
	return nil
}

func idemKey(mutation, key string) string { return mutation + "\x00" + key }

// record returns the current value of a marked key, or nil when the record
// no longer exists (the commit deletes it).
func (st *shopState) record(key string) (any, error) {
	if key == keyMeta {
		return &st.Meta, nil
	}
	kind, rest, _ := strings.Cut(key, "/")
	if kind == kindIdem {
		mut, k, _ := strings.Cut(rest, "/")
		if r := st.Idem[idemKey(mut, k)]; r != nil {
			return r, nil
		}
		return nil, nil
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("bad record key %q", key)
	}
	var v any
	switch kind {
	case kindProduct:
		v = nilOr(st.Products[id])
	case kindVariant:
		v = nilOr(st.Variants[id])
	case kindItem:
		v = nilOr(st.Items[id])
	case kindLocation:
		v = nilOr(st.Locations[id])
	case kindService:
		v = nilOr(st.Services[id])
	case kindPublication:
		v = nilOr(st.Publications[id])
	case kindMetafield:
		v = nilOr(st.Metafields[id])
	case kindWebhook:
		v = nilOr(st.Webhooks[id])
	case kindOrder:
		v = nilOr(st.Orders[id])
	case kindRefund:
		v = nilOr(st.Refunds[id])
	case kindDelivery:
		v = nilOr(st.Deliveries[id])
	default:
		return nil, fmt.Errorf("bad record key %q", key)
	}
	return v, nil
}

// nilOr turns a typed nil pointer into an untyped nil.
func nilOr[T any](p *T) any {
	if p == nil {
		return nil
	}
	return p
}

func idemRecordKey(mutation, key string) string {
	return kindIdem + "/" + mutation + "/" + key
}

// commit writes a shop's marked records (and the shop sequence when
// shopSeq > 0) in one transaction. Without a store it only forgets the marks.
func (s *store) commit(st *shopState, shopSeq int64) error {
	if len(st.dirty) == 0 && shopSeq == 0 {
		return nil
	}
	if s == nil {
		clear(st.dirty)
		return nil
	}
	type put struct {
		key []byte
		val []byte
	}
	puts := make([]put, 0, len(st.dirty))
	for key := range st.dirty {
		v, err := st.record(key)
		if err != nil {
			return err
		}
		var raw []byte
		if v != nil {
			if raw, err = json.Marshal(v); err != nil {
				return fmt.Errorf("encode %s: %w", key, err)
			}
		}
		puts = append(puts, put{[]byte(key), raw})
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if shopSeq > 0 {
			if err := tx.Bucket(bucketMeta).Put([]byte("shop_seq"), []byte(strconv.FormatInt(shopSeq, 10))); err != nil {
				return err
			}
		}
		b, err := tx.Bucket(bucketShops).CreateBucketIfNotExists([]byte(st.Meta.Name))
		if err != nil {
			return err
		}
		for _, p := range puts {
			if p.val == nil {
				err = b.Delete(p.key)
			} else {
				err = b.Put(p.key, p.val)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("commit shop %s: %w", st.Meta.Name, err)
	}
	clear(st.dirty)
	return nil
}
