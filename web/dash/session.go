package dash

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"math"
	"sync"
	"time"

	"eventops/engine"
	"eventops/views"
)

// Dashboard sessions live in memory: a restart signs everyone out, which
// for a staff tool on one binary is the simple, safe choice (nothing to
// steal from the data file). The cookie holds a random id; the store keys
// sessions by its SHA-256, so that lookups do not compare secrets.

const (
	sessionCookie = "eventops_session"
	// loginCookie carries the sign-in form's CSRF token (double submit):
	// there is no session yet to hold it.
	loginCookie = "eventops_login"
)

// staffSession is one signed-in staff member.
type staffSession struct {
	key     string // SHA-256 of the cookie value
	userID  uint64
	email   string
	role    engine.Role
	csrf    string
	created time.Time
	// seen is the last request's time, for the idle expiry; guarded by
	// the store's mutex.
	seen time.Time
	// newKeys is the one-time flash of the API keys just created, shown
	// by the next /keys page of this session and dropped as they are
	// shown; they are held only here, in memory, never in a URL or a
	// cookie. Guarded by the store's mutex.
	newKeys []*views.CreatedKey
	// oauth holds the Connect with Shopify flows under way, by state;
	// guarded by the store's mutex.
	oauth map[string]oauthPending
}

func (s *staffSession) admin() bool { return s.role == engine.RoleAdmin }

// sessionStore holds the live sessions. A session ends after idle without a
// request, and at the latest max after sign-in.
type sessionStore struct {
	mu    sync.Mutex
	byKey map[string]*staffSession
	idle  time.Duration
	max   time.Duration
	now   func() time.Time
	swept time.Time
}

func newSessionStore(idle, max time.Duration, now func() time.Time) *sessionStore {
	return &sessionStore{byKey: map[string]*staffSession{}, idle: idle, max: max, now: now}
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

// create starts a session for u and returns it with the cookie value.
func (st *sessionStore) create(u *engine.User) (*staffSession, string) {
	id := dashToken()
	now := st.now()
	s := &staffSession{key: dashTokenHash(id), userID: u.ID, email: u.Email, role: u.Role,
		csrf: dashToken(), created: now, seen: now}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.sweep(now)
	st.byKey[s.key] = s
	return s, id
}

// get returns the live session of a cookie value and marks it used, or nil.
func (st *sessionStore) get(cookie string) *staffSession {
	if cookie == "" {
		return nil
	}
	key := dashTokenHash(cookie)
	now := st.now()
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.byKey[key]
	if s == nil {
		return nil
	}
	if st.expired(s, now) {
		delete(st.byKey, key)
		return nil
	}
	s.seen = now
	return s
}

// alive reports whether a session is still signed in, without touching it
// (a websocket is not a sign of activity).
func (st *sessionStore) alive(s *staffSession) bool {
	now := st.now()
	st.mu.Lock()
	defer st.mu.Unlock()
	cur := st.byKey[s.key]
	return cur == s && !st.expired(s, now)
}

// flashKey keeps a new key for the session's next /keys page. Keys made
// before that page loads (two tabs) wait together: none is dropped unseen.
func (st *sessionStore) flashKey(s *staffSession, k *views.CreatedKey) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s.newKeys = append(s.newKeys, k)
}

// takeKeys returns the flashed keys, once: a reload shows them no more.
func (st *sessionStore) takeKeys(s *staffSession) []*views.CreatedKey {
	st.mu.Lock()
	defer st.mu.Unlock()
	ks := s.newKeys
	s.newKeys = nil
	return ks
}

func (st *sessionStore) delete(s *staffSession) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.byKey, s.key)
}

func (st *sessionStore) expired(s *staffSession, now time.Time) bool {
	return now.Sub(s.seen) > st.idle || now.Sub(s.created) > st.max
}

// sweep drops expired sessions, at most once a minute.
func (st *sessionStore) sweep(now time.Time) {
	if now.Sub(st.swept) < time.Minute {
		return
	}
	st.swept = now
	for k, s := range st.byKey {
		if st.expired(s, now) {
			delete(st.byKey, k)
		}
	}
}

// loginLimiter throttles sign-in attempts per client IP and per email with
// token buckets: burst attempts at once, then one more every refill. Both
// buckets must have a token; every attempt takes one from each, so a
// password cannot be guessed faster from many IPs against one email, nor
// against many emails from one IP. A successful sign-in gives its tokens
// back (refund): colleagues signing in from one office address never use up
// its bucket, and once the refill after a run of failures has passed, each
// correct password gets in rather than racing the others for one token.
type loginLimiter struct {
	mu      sync.Mutex
	buckets map[string]*loginBucket
	burst   float64
	refill  time.Duration
	now     func() time.Time
}

type loginBucket struct {
	tokens float64
	at     time.Time
}

// maxLoginBuckets bounds the limiter's memory; full buckets are dropped
// first, since forgetting them changes nothing.
const maxLoginBuckets = 100000

func newLoginLimiter(burst int, refill time.Duration, now func() time.Time) *loginLimiter {
	return &loginLimiter{buckets: map[string]*loginBucket{}, burst: float64(burst), refill: refill, now: now}
}

// allow takes a token from every key's bucket, or none of them and reports
// how long until the attempt would be allowed.
func (l *loginLimiter) allow(keys ...string) (bool, time.Duration) {
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
		return false, wait
	}
	for _, b := range bs {
		b.tokens--
	}
	return true, 0
}

// refund gives back the token an allowed attempt took from each key's
// bucket: the attempt succeeded, so it was no guess.
func (l *loginLimiter) refund(keys ...string) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		if b := l.buckets[k]; b != nil {
			l.fill(b, now)
			b.tokens = min(l.burst, b.tokens+1)
		}
	}
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
