package dash

import (
	"crypto/subtle"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
)

// Every dashboard form posts a token that only pages of the session carry
// (the session's CSRF token; on the sign-in form, the value of a cookie set
// with the form). A cross-site page can make a browser post, but cannot read
// the token. SameSite cookies and the Origin check below are a second line.

const csrfField = "_csrf"

// tokensEqual compares secrets in constant time; an empty token never
// matches.
func tokensEqual(a, b string) bool {
	return a != "" && len(a) == len(b) && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// csrfOK checks the form token of a POST against want.
func csrfOK(c *fiber.Ctx, want string) bool {
	return tokensEqual(c.FormValue(csrfField), want)
}

// sameOrigin reports whether a browser request comes from the dashboard's
// own origin: true when the Origin header is absent (old browsers, tools)
// or equal to the expected origin.
func (d *Dashboard) sameOrigin(c *fiber.Ctx) bool {
	origin := c.Get(fiber.HeaderOrigin)
	if origin == "" {
		return true
	}
	return origin == d.expectedOrigin(c)
}

// expectedOrigin is PublicURL's origin, or, without one, the origin the
// request was addressed to.
func (d *Dashboard) expectedOrigin(c *fiber.Ctx) string {
	if d.origin != "" {
		return d.origin
	}
	return c.Protocol() + "://" + c.Hostname()
}

// urlOrigin returns scheme://host[:port] of a URL, "" when it has none.
func urlOrigin(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host)
}

// safeLocalPath accepts a post-sign-in redirect only when it stays on this
// site: a path, not a scheme-relative or absolute URL. A control character,
// raw or percent-encoded, refuses it: browsers drop tabs and newlines from a
// Location, so "/\t/evil.com" would reach //evil.com; and so does anything
// that, parsed or decoded, has a scheme or a host, or starts with "//".
func safeLocalPath(p string) string {
	if p == "" || p[0] != '/' {
		return "/"
	}
	dec, err := url.PathUnescape(p)
	if err != nil {
		return "/"
	}
	for _, s := range []string{p, dec} {
		if strings.HasPrefix(s, "//") || strings.ContainsRune(s, '\\') {
			return "/"
		}
		for _, r := range s {
			if unicode.IsControl(r) || r == utf8.RuneError {
				return "/"
			}
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	return p
}
