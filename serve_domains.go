package main

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"eventops/engine/shopify"
	"eventops/engine/shopify/sandbox"
)

// domainMap is serve's repeatable --shopify-domain-map NAME.myshopify.com=URL:
// for development and tests, a shop domain whose Admin API and OAuth pages
// are served at URL (a sandbox run as its own process) rather than at
// https://NAME.myshopify.com. The shop parameter of the OAuth flow stays
// NAME.myshopify.com throughout; only where the browser and the client go
// changes, so no test leaves loopback.
type domainMap map[string]string

func (m *domainMap) String() string {
	if m == nil {
		return ""
	}
	var parts []string
	for k, v := range *m {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func (m *domainMap) Set(v string) error {
	if *m == nil {
		*m = domainMap{}
	}
	for _, entry := range strings.Split(v, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		domain, target, ok := strings.Cut(entry, "=")
		domain = strings.ToLower(strings.TrimSpace(domain))
		if !ok || !shopify.ValidShopDomain(domain) {
			return fmt.Errorf("%q: want NAME.myshopify.com=URL", entry)
		}
		u, err := url.Parse(strings.TrimSpace(target))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%q: the URL must be an http(s) URL", entry)
		}
		(*m)[domain] = strings.TrimRight(u.String(), "/")
	}
	return nil
}

// resolver is the shops' domain map: the flag's entries, then, with the
// sandbox's control routes on (a development or test server), the built-in
// sandbox's shops by NAME.myshopify.com (sb nil: no built-in sandbox, as
// on PostgreSQL). Without control on, a real shop
// that happens to share a sandbox shop's name is never routed to the
// sandbox.
func (m domainMap) resolver(sb *sandbox.Sandbox, self string, sandboxDomains bool) func(string) (string, bool) {
	return func(domain string) (string, bool) {
		if base, ok := m[domain]; ok {
			return base, true
		}
		if !sandboxDomains || sb == nil {
			return "", false
		}
		name, ok := strings.CutSuffix(domain, ".myshopify.com")
		if !ok || !slices.Contains(sb.Shops(), name) {
			return "", false
		}
		return self + sandbox.Prefix + name, true
	}
}

// origins are the mapped URLs' origins (the dashboard's CSP lets Connect
// with Shopify's form go there).
func (m domainMap) origins() []string {
	var out []string
	for _, target := range m {
		if u, err := url.Parse(target); err == nil && !slices.Contains(out, u.Scheme+"://"+u.Host) {
			out = append(out, u.Scheme+"://"+u.Host)
		}
	}
	slices.Sort(out)
	return out
}
