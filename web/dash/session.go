package dash

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"math"
	"sync"
	"time"

	"eventops/engine"
)

// Dashboard sessions live in the store (SessionStore), so that a restart
// keeps staff signed in. The cookie holds 256 random bits; the store keys the
// session by their SHA-256 and never holds the value itself. The form token
// (CSRF) is derived from the cookie value, so it is not stored either. A
// session ends after idle without a request, at the latest max after
// sign-in, at sign-out, and when its user is removed.

const (
	sessionCookie = "eventops_session"
	// loginCookie carries the sign-in form's CSRF token (double submit):
	// there is no session yet to hold it.
	loginCookie = "eventops_login"
)

// SessionStore keeps the dashboard's sessions. *engine.Engine implements it
// over its store (bbolt today; another store implements the few Tx methods
// behind it). Kept this narrow on purpose.
type SessionStore interface {
	// PutSession writes a new session.
	PutSession(ctx context.Context, s *engine.StaffSession) error
	// TouchSession writes a later Seen in one transaction that reads the
	// session again and writes only if it still exists (a sign-out or
	// expiry committed meanwhile stays done).
	TouchSession(ctx context.Context, hash []byte, seen time.Time) error
	// Session returns a session and its user, or nils when either is gone.
	Session(hash []byte) (*engine.StaffSession, *engine.User, error)
	// EndSession deletes a session; an absent one is no error.
	EndSession(ctx context.Context, hash []byte) error
	// PutConnectFlow and TakeConnectFlow keep a session's Connect with
	// Shopify flows (shopify_connect.go).
	PutConnectFlow(ctx context.Context, hash []byte, state string, f engine.ConnectStart) error
	TakeConnectFlow(ctx context.Context, hash []byte, state string) (*engine.ConnectStart, error)
}

// staffSession is one signed-in staff member, as a request sees it.
type staffSession struct {
	key     string // SHA-256 of the cookie value
	userID  uint64
	email   string
	role    engine.Role
	csrf    string
	created time.Time
	seen    time.Time
}

func (s *staffSession) admin() bool { return s.role == engine.RoleAdmin }

// sessionStore reads and writes sessions through a SessionStore.
type sessionStore struct {
	store SessionStore
	log   *slog.Logger
	idle  time.Duration
	max   time.Duration
	now   func() time.Time
}

func newSessionStore(store SessionStore, log *slog.Logger, idle, max time.Duration, now func() time.Time) *sessionStore {
	return &sessionStore{store: store, log: log, idle: idle, max: max, now: now}
}

// dashToken is 256 random bits as URL-safe text.
func dashToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand: " + err.Error()) // never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func dashTokenHash(t string) string {
	sum := sha256.Sum256([]byte(t))
	return string(sum[:])
}

// csrfOf derives a session's form token from its cookie value: as secret
// as the cookie, never stored, and the same after a restart.
func csrfOf(cookie string) string {
	sum := sha256.Sum256([]byte("eventops csrf\x00" + cookie))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// create starts a session for u and returns it with the cookie value.
func (st *sessionStore) create(ctx context.Context, u *engine.User) (*staffSession, string, error) {
	id := dashToken()
	now := st.now()
	rec := &engine.StaffSession{Hash: []byte(dashTokenHash(id)), UserID: u.ID, Created: now, Seen: now, Expires: now.Add(st.max)}
	if err := st.store.PutSession(ctx, rec); err != nil {
		return nil, "", err
	}
	return &staffSession{key: string(rec.Hash), userID: u.ID, email: u.Email, role: u.Role,
		csrf: csrfOf(id), created: now, seen: now}, id, nil
}

// get returns the live session of a cookie value and marks it used, or nil.
// The use is written at most once a minute (engine.SessionTouchEvery).
func (st *sessionStore) get(cookie string) *staffSession {
	return st.session(cookie, true)
}

// peek is get without recording a use: a websocket's (re)connect is not a
// sign of activity, so it must not keep an idle session alive.
func (st *sessionStore) peek(cookie string) *staffSession {
	return st.session(cookie, false)
}

func (st *sessionStore) session(cookie string, touch bool) *staffSession {
	if cookie == "" {
		return nil
	}
	rec, u := st.load(dashTokenHash(cookie))
	if rec == nil {
		return nil
	}
	now := st.now()
	if !touch {
		return &staffSession{key: string(rec.Hash), userID: u.ID, email: u.Email, role: u.Role,
			csrf: csrfOf(cookie), created: rec.Created, seen: rec.Seen}
	}
	if now.Sub(rec.Seen) >= engine.SessionTouchEvery {
		rec.Seen = now
		if err := st.store.TouchSession(context.Background(), rec.Hash, now); err != nil {
			st.log.Warn("dashboard: recording a session's use", "err", err)
		}
	}
	return &staffSession{key: string(rec.Hash), userID: u.ID, email: u.Email, role: u.Role,
		csrf: csrfOf(cookie), created: rec.Created, seen: rec.Seen}
}

// load reads a session that is still alive; an expired one is deleted.
func (st *sessionStore) load(key string) (*engine.StaffSession, *engine.User) {
	rec, u, err := st.store.Session([]byte(key))
	if err != nil {
		st.log.Error("dashboard: reading a session", "err", err)
		return nil, nil
	}
	if rec == nil {
		return nil, nil
	}
	if st.expired(rec, st.now()) {
		if err := st.store.EndSession(context.Background(), rec.Hash); err != nil {
			st.log.Warn("dashboard: ending an expired session", "err", err)
		}
		return nil, nil
	}
	return rec, u
}

// alive reports whether a session is still signed in, without touching it
// (a websocket is not a sign of activity).
func (st *sessionStore) alive(s *staffSession) bool {
	rec, _ := st.load(s.key)
	return rec != nil
}

// delete ends a session (sign-out).
func (st *sessionStore) delete(ctx context.Context, s *staffSession) error {
	return st.store.EndSession(ctx, []byte(s.key))
}

func (st *sessionStore) expired(s *engine.StaffSession, now time.Time) bool {
	return now.Sub(s.Seen) > st.idle || now.Sub(s.Created) > st.max
}

// LoginLimits are sign-in buckets shared by the nodes of an installation:
// TakeLogin takes an attempt from every key's bucket, or from none and
// says how long until one would be allowed; RefundLogin gives it back.
// Buckets hold burst attempts and regain one per refill.
type LoginLimits interface {
	TakeLogin(ctx context.Context, keys []string, burst int, refill time.Duration) (time.Duration, error)
	RefundLogin(ctx context.Context, keys []string, burst int, refill time.Duration) error
}

// loginLimiter throttles sign-in attempts per client IP and per email with
// token buckets: burst attempts at once, then one more every refill. Both
// buckets must have a token; every attempt takes one from each, so a
// password cannot be guessed faster from many IPs against one email, nor
// against many emails from one IP. A successful sign-in gives its tokens
// back (refund): colleagues signing in from one office address never use up
// its bucket, and once the refill after a run of failures has passed, each
// correct password gets in rather than racing the others for one token.
//
// With shared LoginLimits (several nodes) the buckets are the database's,
// one round trip per attempt (a sign-in's bcrypt costs more): guesses spread
// over the nodes count together. Otherwise they are in this process.
type loginLimiter struct {
	mu      sync.Mutex
	buckets map[string]*loginBucket
	burst   float64
	refill  time.Duration
	now     func() time.Time
	shared  LoginLimits
}

type loginBucket struct {
	tokens float64
	at     time.Time
}

// maxLoginBuckets bounds the limiter's memory; full buckets are dropped
// first, since forgetting them changes nothing.
const maxLoginBuckets = 100000

func newLoginLimiter(burst int, refill time.Duration, now func() time.Time, shared LoginLimits) *loginLimiter {
	return &loginLimiter{buckets: map[string]*loginBucket{}, burst: float64(burst), refill: refill, now: now, shared: shared}
}

// allow takes a token from every key's bucket, or none of them and reports
// how long until the attempt would be allowed. An error is the shared
// buckets': the attempt is not allowed.
func (l *loginLimiter) allow(ctx context.Context, keys ...string) (bool, time.Duration, error) {
	if l.shared != nil {
		wait, err := l.shared.TakeLogin(ctx, keys, int(l.burst), l.refill)
		return err == nil && wait <= 0, wait, err
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	bs := make([]*loginBucket, len(keys))
	for i, k := range keys {
		b := l.buckets[k]
		if b == nil {
			if len(l.buckets) >= maxLoginBuckets {
				l.prune(now)
			}
			b = &loginBucket{tokens: l.burst, at: now}
			l.buckets[k] = b
		}
		l.fill(b, now)
		if b.tokens < 1 {
			need := time.Duration(math.Ceil((1 - b.tokens) * float64(l.refill)))
			wait = max(wait, need)
		}
		bs[i] = b
	}
	if wait > 0 {
		return false, wait, nil
	}
	for _, b := range bs {
		b.tokens--
	}
	return true, 0, nil
}

// refund gives back the token an allowed attempt took from each key's
// bucket: the attempt succeeded, so it was no guess.
func (l *loginLimiter) refund(ctx context.Context, keys ...string) error {
	if l.shared != nil {
		return l.shared.RefundLogin(ctx, keys, int(l.burst), l.refill)
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		if b := l.buckets[k]; b != nil {
			l.fill(b, now)
			b.tokens = min(l.burst, b.tokens+1)
		}
	}
	return nil
}

func (l *loginLimiter) fill(b *loginBucket, now time.Time) {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(l.burst, b.tokens+float64(d)/float64(l.refill))
		b.at = now
	}
}

func (l *loginLimiter) prune(now time.Time) {
	for k, b := range l.buckets {
		l.fill(b, now)
		if b.tokens >= l.burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= maxLoginBuckets { // under attack from everywhere: start over
		l.buckets = map[string]*loginBucket{}
	}
}
