package dash

import (
	"fmt"
	"net/http"
	"testing"
)

// Event times are the venue's, the zone named: an event at 19:00 UTC in a
// Chicago venue starts at 13:00 CST, on its page and in the events list.
// (Operation times are the browser's: TestDashboardFocusAndTimesInBrowser.)
func TestDashboardEventTimesInVenueZone(t *testing.T) {
	t.Parallel()
	f := setupDash(t)
	ev, _ := f.createEvent("Chicago Night")
	admin := f.admin()
	admin.get(fmt.Sprintf("/events/%d", ev.ID)).expect(t, http.StatusOK).
		contains(t, "2026-12-05 13:00 CST", "2026-12-05 17:00 CST").lacks(t, "19:00:00 UTC")
	admin.get("/events").expect(t, http.StatusOK).contains(t, "2026-12-05 13:00 CST")
}
