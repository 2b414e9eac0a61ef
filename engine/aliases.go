package engine

import (
	"context"
	"sort"
	"sync"
	"time"
)

// AliasUse counts one API key's calls of the deprecated sync-job aliases, so
// that an operator can see who still has to migrate.
type AliasUse struct {
	APIKeyID uint64    `json:"api_key_id"`
	Count    uint64    `json:"count"`
	LastSeen time.Time `json:"last_seen"`
	LastPath string    `json:"last_path"`
}

// aliasCounter gathers alias uses in memory between flushes.
type aliasCounter struct {
	mu      sync.Mutex
	pending map[uint64]*AliasUse
}

// RecordAliasUse counts a call of an alias path; it is written out by
// FlushAliasUse, never one write per request.
func (e *Engine) RecordAliasUse(keyID uint64, path string) {
	c := &e.aliases
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending == nil {
		c.pending = map[uint64]*AliasUse{}
	}
	u := c.pending[keyID]
	if u == nil {
		u = &AliasUse{APIKeyID: keyID}
		c.pending[keyID] = u
	}
	u.Count++
	u.LastSeen = e.now()
	u.LastPath = path
}

// FlushAliasUse adds the uses gathered since the last flush to the stored
// counters, in one commit: the stored count is read in the commit and the
// delta added to it, so nodes flushing the same key's counter each add
// theirs (on PostgreSQL a concurrent flush is a serialization failure and
// runs again on the other's count), and the last seen use is the latest.
func (e *Engine) FlushAliasUse(ctx context.Context) error {
	c := &e.aliases
	c.mu.Lock()
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()
	if len(pending) == 0 {
		return nil
	}
	err := e.store.Update(ctx, func(tx Tx) error {
		stored, err := tx.AliasUses()
		if err != nil {
			return err
		}
		byKey := map[uint64]*AliasUse{}
		for _, u := range stored {
			byKey[u.APIKeyID] = u
		}
		for id, p := range pending {
			u := byKey[id]
			if u == nil {
				u = &AliasUse{APIKeyID: id}
			}
			merged := *u
			merged.Count += p.Count
			if p.LastSeen.After(merged.LastSeen) { // another node's may be later
				merged.LastSeen, merged.LastPath = p.LastSeen, p.LastPath
			}
			if err := tx.PutAliasUse(&merged); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil { // keep the counts for the next flush
		c.mu.Lock()
		for id, p := range pending {
			if q := c.pending[id]; q != nil {
				p.Count += q.Count
				p.LastSeen, p.LastPath = q.LastSeen, q.LastPath
			}
			if c.pending == nil {
				c.pending = map[uint64]*AliasUse{}
			}
			c.pending[id] = p
		}
		c.mu.Unlock()
	}
	return err
}

// AliasUses is the stored counters plus those not yet flushed, busiest first.
func (e *Engine) AliasUses() ([]*AliasUse, error) {
	var stored []*AliasUse
	if err := e.store.View(func(tx Tx) error {
		var err error
		stored, err = tx.AliasUses()
		return err
	}); err != nil {
		return nil, err
	}
	byKey := map[uint64]*AliasUse{}
	for _, u := range stored {
		byKey[u.APIKeyID] = u
	}
	e.aliases.mu.Lock()
	for id, p := range e.aliases.pending {
		u := byKey[id]
		if u == nil {
			u = &AliasUse{APIKeyID: id}
			byKey[id] = u
			stored = append(stored, u)
		}
		u.Count += p.Count
		u.LastSeen, u.LastPath = p.LastSeen, p.LastPath
	}
	e.aliases.mu.Unlock()
	sort.Slice(stored, func(i, j int) bool { return stored[i].Count > stored[j].Count })
	return stored, nil
}
