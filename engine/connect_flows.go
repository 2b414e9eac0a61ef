package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"slices"
	"time"
)

// Connect with Shopify flows under way. The dashboard starts one per click
// and the shop's callback ends it, possibly on another node behind a load
// balancer: the flow is stored with the staff session it is bound to, so
// any node of the installation finds it. What is stored reveals nothing
// usable on its own: the state as its SHA-256 (the browser holds the
// value), a custom app's client secret sealed with the installation's
// sealer (every node has the same key). A flow lives until its Expires,
// ends when its callback takes it (single use: the take is one
// transaction, so two callbacks with one state cannot both have it), and
// goes with its session (sign-out, expiry, user removal).

// ConnectFlow is a stored Connect with Shopify flow (in StaffSession).
type ConnectFlow struct {
	StateHash []byte    `json:"state_hash"`
	CompanyID uint64    `json:"company_id"`
	Shop      string    `json:"shop"`
	Expires   time.Time `json:"expires"`
	// ClientID and the sealed ClientSecret name a custom-distribution app
	// given with the shop; empty: the installation's app.
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret []byte `json:"client_secret,omitempty"`
}

// ConnectStart is a flow as the dashboard gives and gets it back.
type ConnectStart struct {
	CompanyID uint64
	Shop      string
	// App is a custom-distribution app (nil: the installation's).
	App     *AppCredentials
	Expires time.Time
}

// MaxConnectFlows bounds the flows a session keeps: starting another drops
// the oldest (an admin clicking Connect again and again).
const MaxConnectFlows = 8

// ErrNoSession is PutConnectFlow's error when the session has ended.
var ErrNoSession = errors.New("the staff session has ended")

func stateHash(state string) []byte {
	sum := sha256.Sum256([]byte("eventops connect state\x00" + state))
	return sum[:]
}

// PutConnectFlow stores a flow started in session (its hash) under state.
func (e *Engine) PutConnectFlow(ctx context.Context, session []byte, state string, in ConnectStart) error {
	if state == "" || in.CompanyID == 0 || in.Shop == "" {
		return errors.New("put connect flow: state, company and shop are required")
	}
	f := ConnectFlow{StateHash: stateHash(state), CompanyID: in.CompanyID, Shop: in.Shop, Expires: in.Expires}
	if in.App != nil {
		sealed, err := e.seal(in.App.ClientSecret)
		if err != nil {
			return err
		}
		f.ClientID, f.ClientSecret = in.App.ClientID, sealed
	}
	return e.store.Update(ctx, func(tx Tx) error {
		s, err := tx.Session(session)
		if err != nil {
			return err
		}
		if s == nil {
			return ErrNoSession
		}
		now := e.now()
		live := make([]ConnectFlow, 0, len(s.Connects)+1)
		for _, c := range s.Connects {
			if c.Expires.After(now) {
				live = append(live, c)
			}
		}
		live = append(live, f)
		if n := len(live) - MaxConnectFlows; n > 0 {
			live = live[n:]
		}
		s.Connects = live
		return tx.PutSession(s)
	})
}

// TakeConnectFlow removes and returns the flow of state in session, or nil
// when there is none (never started there, taken already, or expired). It
// drops the session's expired flows in the same commit.
func (e *Engine) TakeConnectFlow(ctx context.Context, session []byte, state string) (*ConnectStart, error) {
	if state == "" {
		return nil, nil
	}
	h := stateHash(state)
	var got *ConnectFlow
	err := e.store.Update(ctx, func(tx Tx) error {
		got = nil // the function may run again
		s, err := tx.Session(session)
		if err != nil || s == nil {
			return err
		}
		now := e.now()
		kept := s.Connects[:0:0]
		for _, c := range s.Connects {
			switch {
			case bytes.Equal(c.StateHash, h):
				if c.Expires.After(now) {
					got = &c
				}
			case c.Expires.After(now):
				kept = append(kept, c)
			}
		}
		if len(kept) == len(s.Connects) {
			return nil
		}
		s.Connects = slices.Clip(kept)
		if len(kept) == 0 {
			s.Connects = nil
		}
		return tx.PutSession(s)
	})
	if err != nil || got == nil {
		return nil, err
	}
	out := &ConnectStart{CompanyID: got.CompanyID, Shop: got.Shop, Expires: got.Expires}
	if got.ClientID != "" {
		secret, err := e.open(got.ClientSecret)
		if err != nil {
			return nil, err
		}
		out.App = &AppCredentials{ClientID: got.ClientID, ClientSecret: secret}
	}
	return out, nil
}

// SealFor seals plain for one purpose with the installation's sealer: a
// value sealed for one purpose never opens as another's. For short-lived
// values the dashboard hands the browser (a new API key between a form's
// answer and the page it redirects to), which every node can open.
func (e *Engine) SealFor(purpose, plain string) ([]byte, error) {
	if e.sealer == nil {
		return nil, errors.New("no sealer configured")
	}
	return e.sealer.Seal(purpose + "\x00" + plain)
}

// OpenFor opens a value SealFor sealed for purpose.
func (e *Engine) OpenFor(purpose string, sealed []byte) (string, error) {
	if e.sealer == nil {
		return "", errors.New("no sealer configured")
	}
	v, err := e.sealer.Open(sealed)
	if err != nil {
		return "", err
	}
	rest, ok := bytes.CutPrefix([]byte(v), []byte(purpose+"\x00"))
	if !ok {
		return "", errors.New("sealed for another purpose")
	}
	return string(rest), nil
}
