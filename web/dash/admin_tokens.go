package dash

import (
	"net/http"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"eventops/engine"
	"eventops/views"
)

// revokeAdminToken revokes an installation admin token while the server
// runs (the CLI's `admintoken revoke` needs it stopped), after a
// confirmation, and audits it.
func (d *Dashboard) revokeAdminToken(c *fiber.Ctx, sess *staffSession) error {
	ctx, cancel := actionContext()
	defer cancel()
	id, err := dashPathID(c, "id")
	if err != nil {
		return err
	}
	if c.FormValue("confirm") != "1" {
		return d.confirmRevokeAdminToken(c, sess, id)
	}
	_, err = d.eng.RevokeAdminToken(ctx, id)
	d.record(c, sess, "admintoken.revoke", "admin token "+strconv.FormatUint(id, 10), "", err)
	if err != nil {
		return err
	}
	return c.Redirect("/keys", http.StatusSeeOther)
}

// confirmRevokeAdminToken asks before revoking admin token id, naming it:
// revoking cannot be undone, and every script using the token (nightly
// backups) is refused from then on.
func (d *Dashboard) confirmRevokeAdminToken(c *fiber.Ctx, sess *staffSession, id uint64) error {
	ks, err := d.eng.AdminTokens()
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
		return engine.NotFound("admin token %d not found", id)
	}
	if k.RevokedAt != nil {
		return engine.Conflict("admin token %d is already revoked", id)
	}
	label := views.KeyLabel(k)
	p := d.pageOf(c, sess, "Revoke admin token "+label, "keys", false)
	return dashRender(c, http.StatusOK, views.ConfirmView(p, views.ConfirmPage{
		Heading:  "Revoke admin token " + label + "?",
		Question: "Revoke installation admin token " + label + "? Every script using it (backups included) is refused from then on; this cannot be undone.",
		Details:  []string{"Admin token #" + strconv.FormatUint(k.ID, 10), "Last used: " + lastUse(k)},
		Action:   "/admintokens/" + strconv.FormatUint(id, 10) + "/revoke",
		Button:   "Revoke admin token " + label,
		Back:     "/keys",
		CSRF:     sess.csrf,
	}))
}

func lastUse(k *engine.APIKey) string {
	if k.LastUsed == nil {
		return "never"
	}
	return k.LastUsed.UTC().Format("2006-01-02 15:04 UTC")
}
