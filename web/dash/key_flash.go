package dash

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/gofiber/fiber/v2"

	"eventops/views"
)

// A new API key is shown once, by the /keys page that its creation
// redirects to (post/redirect/get: a reload neither creates a second key
// nor shows this one again, and the back button lands on that page, not on
// a form to send again). Behind a load balancer that page may be served by
// another node than the one that made the key, so the key cannot wait in a
// node's memory, and it must never be stored in clear. It travels in a
// cookie sealed with the installation's sealer (every node has the same
// key, so any node opens it), that:
//   - is bound to the session that made the key (another sign-in in the
//     same browser does not see it) and expires after keyFlashTTL;
//   - is sent only to /keys (Path), only by same-site requests (SameSite
//     Strict), never to scripts (HttpOnly), over https when the dashboard
//     is (Secure);
//   - is cleared by the page that shows it, and at sign-out.
//
// Rendering the key in the POST's own answer was the other way: no cookie,
// but a reload then asks to send the form again, which makes a second key.
// Keys made before the page loads (two tabs) wait together in the cookie.
// Without a sealer the key is shown in the POST's answer instead.

const (
	keyFlashCookie  = "eventops_new_keys"
	keyFlashPurpose = "dashboard new api keys"
	keyFlashTTL     = 5 * time.Minute
	// keyFlashMax bounds the keys waiting in the cookie (its size).
	keyFlashMax = 10
)

type keyFlash struct {
	Session string       `json:"s"`
	Expires time.Time    `json:"e"`
	Keys    []flashedKey `json:"k"`
}

type flashedKey struct {
	ID    uint64 `json:"id"`
	Plain string `json:"p"`
}

// flashBinding ties a flash to a session without carrying (even sealed) the
// session's own key.
func flashBinding(s *staffSession) string {
	sum := sha256.Sum256([]byte("eventops key flash\x00" + s.key))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// readKeyFlash opens the request's flash of session s; nil when there is
// none, it is another session's, it expired, or it does not open.
func (d *Dashboard) readKeyFlash(c *fiber.Ctx, s *staffSession) *keyFlash {
	raw := c.Cookies(keyFlashCookie)
	if raw == "" {
		return nil
	}
	sealed, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return nil
	}
	plain, err := d.eng.OpenFor(keyFlashPurpose, sealed)
	if err != nil {
		return nil
	}
	var f keyFlash
	if json.Unmarshal([]byte(plain), &f) != nil || f.Session != flashBinding(s) || !d.now().Before(f.Expires) {
		return nil
	}
	return &f
}

// flashKey adds a new key to the browser's flash for the next /keys page;
// false when it cannot be sealed (the caller shows the key at once).
func (d *Dashboard) flashKey(c *fiber.Ctx, s *staffSession, id uint64, plain string) bool {
	f := d.readKeyFlash(c, s)
	if f == nil {
		f = &keyFlash{Session: flashBinding(s)}
	}
	f.Expires = d.now().Add(keyFlashTTL)
	f.Keys = append(f.Keys, flashedKey{ID: id, Plain: plain})
	if n := len(f.Keys) - keyFlashMax; n > 0 {
		f.Keys = f.Keys[n:]
	}
	b, err := json.Marshal(f)
	if err != nil {
		return false
	}
	sealed, err := d.eng.SealFor(keyFlashPurpose, string(b))
	if err != nil {
		d.log.Warn("dashboard: sealing a new key for the next page; showing it at once", "err", err)
		return false
	}
	c.Cookie(&fiber.Cookie{Name: keyFlashCookie, Value: base64.RawURLEncoding.EncodeToString(sealed), Path: "/keys",
		MaxAge: int(keyFlashTTL / time.Second), HTTPOnly: true, Secure: d.secure, SameSite: fiber.CookieSameSiteStrictMode})
	return true
}

// clearKeyFlash drops the browser's flash.
func (d *Dashboard) clearKeyFlash(c *fiber.Ctx) {
	c.Cookie(&fiber.Cookie{Name: keyFlashCookie, Value: "", Path: "/keys", MaxAge: -1,
		HTTPOnly: true, Secure: d.secure, SameSite: fiber.CookieSameSiteStrictMode})
}

// takeKeys returns the keys flashed to session s, once: the cookie is
// cleared by this answer, so a reload shows them no more. Keys revoked or
// removed since are not shown.
func (d *Dashboard) takeKeys(c *fiber.Ctx, s *staffSession) ([]*views.CreatedKey, error) {
	if c.Cookies(keyFlashCookie) == "" {
		return nil, nil
	}
	d.clearKeyFlash(c)
	f := d.readKeyFlash(c, s)
	if f == nil {
		return nil, nil
	}
	ks, err := d.eng.APIKeys(0)
	if err != nil {
		return nil, err
	}
	names := d.names.reload()
	var out []*views.CreatedKey
	for _, fk := range f.Keys {
		for _, k := range ks {
			if k.ID == fk.ID && k.RevokedAt == nil {
				out = append(out, &views.CreatedKey{Key: k, Company: names.Company(k.CompanyID), Plain: fk.Plain})
			}
		}
	}
	return out, nil
}
