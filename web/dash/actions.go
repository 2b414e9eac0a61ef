package dash

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"eventops/engine"
	"eventops/views"
)

// The dashboard's forms: sign-in and sign-out for everyone, and the admin
// actions, each written to the audit log with who, what, when, from where
// and how it ended.

func (d *Dashboard) loginPage(c *fiber.Ctx, _ *staffSession) error {
	next := safeLocalPath(c.Query("next"))
	if d.sessions.get(c.Cookies(sessionCookie)) != nil {
		return c.Redirect(next, http.StatusSeeOther)
	}
	return d.renderLogin(c, http.StatusOK, views.LoginPage{Next: next}, "")
}

// renderLogin shows the sign-in form with a form token, reusing the one
// the browser holds so that two open sign-in tabs both work.
func (d *Dashboard) renderLogin(c *fiber.Ctx, status int, data views.LoginPage, msg string) error {
	token := c.Cookies(loginCookie)
	if len(token) != 43 { // a dashToken value
		token = dashToken()
	}
	c.Cookie(&fiber.Cookie{Name: loginCookie, Value: token, Path: "/login", MaxAge: 3600,
		HTTPOnly: true, Secure: d.secure, SameSite: fiber.CookieSameSiteStrictMode})
	data.CSRF, data.Error = token, msg
	return dashRender(c, status, views.LoginView(d.pageOf(c, nil, "Sign in", "", false), data))
}

// login checks the form token, then the attempt limits, then the password.
// Only a successful sign-in starts a session (a fresh id: nothing from
// before the sign-in carries over).
func (d *Dashboard) login(c *fiber.Ctx, _ *staffSession) error {
	email := strings.ToLower(strings.TrimSpace(c.FormValue("email")))
	data := views.LoginPage{Email: email, Next: safeLocalPath(c.FormValue("next"))}
	if !d.sameOrigin(c) {
		return dashCrossSite()
	}
	if !tokensEqual(c.FormValue(csrfField), c.Cookies(loginCookie)) {
		return dashForbidden("The sign-in form's security token is missing or stale. Reload the sign-in page and try again.")
	}
	limits := []string{"ip:" + c.IP(), "email:" + email}
	ok, wait, err := d.logins.allow(c.UserContext(), limits...)
	if err != nil {
		return err
	}
	if !ok {
		secs := int((wait + time.Second - 1) / time.Second)
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
		d.log.Warn("sign-in throttled", "email", email, "ip", c.IP())
		return d.renderLogin(c, http.StatusTooManyRequests, data,
			"Too many sign-in attempts. Try again in "+strconv.Itoa(secs)+" seconds.")
	}
	u, err := d.eng.SignIn(email, engine.Secret(c.FormValue("password")))
	if engine.ErrorKind(err) == engine.KindUnauthorized {
		d.log.Info("sign-in refused", "email", email, "ip", c.IP())
		return d.renderLogin(c, http.StatusUnauthorized, data, "Wrong email or password.")
	}
	if err != nil {
		return err
	}
	if err := d.logins.refund(c.UserContext(), limits...); err != nil {
		// The sign-in stands: a refund lost costs one attempt of the
		// bucket, never access.
		d.log.Warn("sign-in limit refund", "err", err)
	}
	sess, id, err := d.sessions.create(c.UserContext(), u)
	if err != nil {
		return err
	}
	c.Cookie(&fiber.Cookie{Name: sessionCookie, Value: id, Path: "/",
		HTTPOnly: true, Secure: d.secure, SameSite: fiber.CookieSameSiteLaxMode})
	c.Cookie(&fiber.Cookie{Name: loginCookie, Value: "", Path: "/login", MaxAge: -1,
		HTTPOnly: true, Secure: d.secure, SameSite: fiber.CookieSameSiteStrictMode})
	d.record(c, sess, "session.sign_in", "", "", nil)
	return c.Redirect(data.Next, http.StatusSeeOther)
}

func (d *Dashboard) logout(c *fiber.Ctx, sess *staffSession) error {
	ctx, cancel := actionContext()
	defer cancel()
	if err := d.sessions.delete(ctx, sess); err != nil {
		return err
	}
	d.hub.signedOut(sess)
	d.clearKeyFlash(c)
	c.Cookie(&fiber.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HTTPOnly: true, Secure: d.secure, SameSite: fiber.CookieSameSiteLaxMode})
	d.record(c, sess, "session.sign_out", "", "", nil)
	return c.Redirect("/login", http.StatusSeeOther)
}

func (d *Dashboard) cancelOperation(c *fiber.Ctx, sess *staffSession) error {
	ctx, cancel := actionContext()
	defer cancel()
	id, err := dashPathID(c, "id")
	if err != nil {
		return err
	}
	_, err = d.eng.CancelOperation(ctx, 0, id)
	d.record(c, sess, "operation.cancel", "operation "+strconv.FormatUint(id, 10), "", err)
	if err != nil {
		return err
	}
	return c.Redirect("/operations/"+strconv.FormatUint(id, 10), http.StatusSeeOther)
}

func (d *Dashboard) retryOperation(c *fiber.Ctx, sess *staffSession) error {
	ctx, cancel := actionContext()
	defer cancel()
	id, err := dashPathID(c, "id")
	if err != nil {
		return err
	}
	// Without the confirmation, a failure retried already is refused
	// under the event queue's lock (two clicks racing make one retry) and
	// the person is asked instead.
	retry := d.eng.RetryOperationOnce
	if c.FormValue("confirm") == "1" {
		retry = d.eng.RetryOperation
	}
	op, err := retry(ctx, 0, id)
	if err != nil && engine.ErrorKind(err) == engine.KindConflict && c.FormValue("confirm") != "1" {
		if old, lerr := d.eng.Operation(0, id); lerr == nil && old.Status == engine.StatusFailed {
			if retries, rerr := d.eng.RetriesOf(old); rerr == nil && len(retries) > 0 {
				return d.confirmRetry(c, sess, old, retries)
			}
		}
	}
	detail := ""
	if err == nil {
		detail = "new operation " + strconv.FormatUint(op.ID, 10)
	}
	d.record(c, sess, "operation.retry", "operation "+strconv.FormatUint(id, 10), detail, err)
	if err != nil {
		return err
	}
	return c.Redirect("/operations/"+strconv.FormatUint(op.ID, 10), http.StatusSeeOther)
}

// confirmRetry asks before retrying a failure that was already retried:
// a second retry repeats the work of the first (staff made duplicates when
// nothing said so), so the server asks, naming the retries made, and only
// a form with confirm=1 goes ahead.
func (d *Dashboard) confirmRetry(c *fiber.Ctx, sess *staffSession, old *engine.Operation, retries []uint64) error {
	id := strconv.FormatUint(old.ID, 10)
	as := make([]string, len(retries))
	for i, r := range retries {
		as[i] = "#" + strconv.FormatUint(r, 10)
	}
	p := d.pageOf(c, sess, "Retry operation #"+id+" again", "operations", false)
	return dashRender(c, http.StatusOK, views.ConfirmView(p, views.ConfirmPage{
		Heading: "Retry operation #" + id + " again?",
		Question: "Operation #" + id + " (" + string(old.Action) + " of event #" + strconv.FormatUint(old.EventID, 10) +
			") was already retried as " + strings.Join(as, ", ") + ". Retrying it again starts another " +
			string(old.Action) + " of the same event.",
		Details: []string{"Look at the retry first: " + strings.Join(as, ", ") + " may already have done the work."},
		Action:  "/operations/" + id + "/retry",
		Button:  "Retry operation #" + id + " again",
		Back:    "/operations/" + strconv.FormatUint(retries[len(retries)-1], 10),
		CSRF:    sess.csrf,
	}))
}

// shopForm reads the shop fields of a company form: nil for "not
// connected". Secrets go straight into engine.Secret, which no log or
// format prints.
func shopForm(c *fiber.Ctx, companyName string) (*engine.ShopInput, string) {
	in := &engine.ShopInput{Domain: strings.Clone(strings.TrimSpace(c.FormValue("domain")))}
	switch c.FormValue("shop") {
	case "", "none":
		return nil, "not connected"
	case "sandbox":
		in.Sandbox = true
		if in.Domain == "" {
			in.Domain = engine.Slugify(companyName)
		}
		return in, "sandbox shop " + in.Domain
	case "real":
		if c.FormValue("auth") == string(engine.ShopAuthClientCredentials) {
			in.Auth = engine.ShopAuthClientCredentials
			in.ClientID = strings.Clone(strings.TrimSpace(c.FormValue("client_id")))
			in.ClientSecret = engine.Secret(strings.Clone(c.FormValue("client_secret")))
			return in, "shop " + in.Domain + " (client-credentials)"
		}
		in.AccessToken = engine.Secret(strings.Clone(c.FormValue("token")))
		in.WebhookSecret = engine.Secret(strings.Clone(c.FormValue("webhook_secret")))
		return in, "shop " + in.Domain
	}
	return in, ""
}

func (d *Dashboard) createCompany(c *fiber.Ctx, sess *staffSession) error {
	ctx, cancel := actionContext()
	defer cancel()
	name := strings.TrimSpace(c.FormValue("name"))
	shop, desc := shopForm(c, name)
	if desc == "" {
		return d.renderCompanies(c, sess, http.StatusUnprocessableEntity, "Choose how the company's shop is connected.")
	}
	if shop != nil && !shop.Sandbox && shop.Auth == "" && (shop.AccessToken == "" || shop.WebhookSecret == "") {
		return d.renderCompanies(c, sess, http.StatusUnprocessableEntity,
			"A real shop needs its Admin API access token and its webhook secret.")
	}
	if shop != nil && !shop.Sandbox && engine.ValidateShopInput(*shop) == nil {
		if err := d.publicURLError(c); err != nil {
			return d.renderCompanies(c, sess, http.StatusUnprocessableEntity, "The company was not created: "+err.Error())
		}
	}
	co, err := d.eng.CreateCompany(ctx, name, shop)
	target := ""
	if err == nil {
		target = "company " + strconv.FormatUint(co.ID, 10)
	}
	d.record(c, sess, "company.create", target, name+", "+desc, err)
	if engine.ErrorKind(err) == engine.KindInvalid {
		return d.renderCompanies(c, sess, http.StatusUnprocessableEntity, "The company was not created: "+fieldMessages(err.(*engine.Error)))
	}
	if err != nil {
		return err
	}
	d.names.reload()
	return c.Redirect("/companies", http.StatusSeeOther)
}

func (d *Dashboard) connectShop(c *fiber.Ctx, sess *staffSession) error {
	ctx, cancel := actionContext()
	defer cancel()
	id, err := dashPathID(c, "id")
	if err != nil {
		return err
	}
	co, err := d.eng.Company(id)
	if err != nil {
		return err
	}
	shop, desc := shopForm(c, co.Name)
	if shop == nil {
		return d.renderCompanies(c, sess, http.StatusUnprocessableEntity, "Choose the sandbox or a real shop to connect.")
	}
	if !shop.Sandbox && engine.ValidateShopInput(*shop) == nil {
		if err := d.publicURLError(c); err != nil {
			return d.renderCompanies(c, sess, http.StatusUnprocessableEntity, "The shop was not connected: "+err.Error())
		}
	}
	_, err = d.eng.ConnectShop(ctx, id, *shop)
	d.record(c, sess, "company.connect_shop", "company "+strconv.FormatUint(id, 10), desc, err)
	if engine.ErrorKind(err) == engine.KindInvalid {
		return d.renderCompanies(c, sess, http.StatusUnprocessableEntity, "The shop was not connected: "+fieldMessages(err.(*engine.Error)))
	}
	if err != nil {
		return err
	}
	return c.Redirect("/companies", http.StatusSeeOther)
}

func (d *Dashboard) createKey(c *fiber.Ctx, sess *staffSession) error {
	ctx, cancel := actionContext()
	defer cancel()
	companyID, err := formID(c.FormValue("company"), "company")
	if err != nil {
		return err
	}
	var scopes []engine.Scope
	for _, s := range c.Context().PostArgs().PeekMulti("scopes") {
		scopes = append(scopes, engine.Scope(string(s)))
	}
	name := strings.TrimSpace(c.FormValue("name"))
	k, plain, err := d.eng.CreateAPIKey(ctx, companyID, name, scopes)
	target, detail := "", "company "+strconv.FormatUint(companyID, 10)+", scopes "+joinScopes(scopes)
	if err == nil {
		target = "api key " + strconv.FormatUint(k.ID, 10)
	}
	d.record(c, sess, "apikey.create", target, detail, err)
	switch engine.ErrorKind(err) {
	case engine.KindInvalid:
		return d.renderKeys(c, sess, http.StatusUnprocessableEntity, nil, "The key was not created: "+fieldMessages(err.(*engine.Error)))
	case engine.KindNotFound:
		return d.renderKeys(c, sess, http.StatusUnprocessableEntity, nil, "The key was not created: choose an existing company.")
	}
	if err != nil {
		return err
	}
	// Post/redirect/get through a sealed cookie (key_flash.go).
	if !d.flashKey(c, sess, k.ID, plain.Reveal()) {
		names := d.names.names(k.CompanyID)
		return d.renderKeys(c, sess, http.StatusOK, []*views.CreatedKey{{Key: k, Company: names.Company(k.CompanyID), Plain: plain.Reveal()}}, "")
	}
	return c.Redirect("/keys", http.StatusSeeOther)
}

func (d *Dashboard) revokeKey(c *fiber.Ctx, sess *staffSession) error {
	ctx, cancel := actionContext()
	defer cancel()
	id, err := dashPathID(c, "id")
	if err != nil {
		return err
	}
	if c.FormValue("confirm") != "1" {
		return d.confirmRevoke(c, sess, id)
	}
	_, err = d.eng.RevokeAPIKey(ctx, id)
	d.record(c, sess, "apikey.revoke", "api key "+strconv.FormatUint(id, 10), "", err)
	if err != nil {
		return err
	}
	return c.Redirect("/keys", http.StatusSeeOther)
}

// confirmRevoke asks before revoking key id, naming the key and its
// company: revoking cannot be undone, and every client using the key stops
// working at once.
func (d *Dashboard) confirmRevoke(c *fiber.Ctx, sess *staffSession, id uint64) error {
	ks, err := d.eng.APIKeys(0)
	if err != nil {
		return err
	}
	var k *engine.APIKey
	for _, x := range ks {
		if x.ID == id {
			k = x
		}
	}
	if k == nil {
		return engine.NotFound("api key %d not found", id)
	}
	if k.RevokedAt != nil {
		return engine.Conflict("api key %d is already revoked", id)
	}
	company := d.names.names(k.CompanyID).Company(k.CompanyID)
	label := views.KeyLabel(k)
	p := d.pageOf(c, sess, "Revoke key "+label, "keys", false)
	return dashRender(c, http.StatusOK, views.ConfirmView(p, views.ConfirmPage{
		Heading:  "Revoke key " + label + "?",
		Question: "Revoke API key " + label + " of " + company + "? Every client using it is refused from then on; this cannot be undone.",
		Details:  []string{"Key #" + strconv.FormatUint(k.ID, 10) + ", scopes " + joinScopes(k.Scopes), "Company: " + company},
		Action:   "/keys/" + strconv.FormatUint(id, 10) + "/revoke",
		Button:   "Revoke key " + label + " of " + company,
		Back:     "/keys",
		CSRF:     sess.csrf,
	}))
}

func joinScopes(ss []engine.Scope) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return strings.Join(out, ",")
}

// actionContext bounds an admin action's writes. Fiber's request context is
// never cancelled, and an action started should finish even if the browser
// goes away.
func actionContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

// record writes an audit entry. An action that was done is never undone
// because its entry could not be written; the failure is logged instead.
func (d *Dashboard) record(c *fiber.Ctx, sess *staffSession, action, target, detail string, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "refused: internal error"
		var ee *engine.Error
		if errors.As(err, &ee) && ee.Kind != engine.KindInternal {
			outcome = "refused: " + ee.Message
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, aerr := d.eng.RecordAudit(ctx, engine.AuditEntry{
		UserID: sess.userID, Email: sess.email, Role: sess.role,
		Action: action, Target: target, Detail: detail, Outcome: outcome,
		RemoteIP: c.IP(),
	})
	if aerr != nil {
		d.log.Error("audit log write failed", "action", action, "target", target, "user", sess.email, "err", aerr)
	}
}
