package ops

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// The routes exist as configured: liveness always, /backup only with a
// data file and an admin guard. (The server's own tests cover each route
// on a whole installation: health_test.go, backup_test.go, metrics_test.go
// in package web.)
func TestMountFollowsConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		cfg    Config
		path   string
		status int
	}{
		{"liveness", Config{}, "/healthz", http.StatusOK},
		{"no backup without a data file", Config{AdminGuard: func(c *fiber.Ctx) error { return c.Next() }}, "/backup", http.StatusNotFound},
		{"no backup without a guard", Config{DataFile: nopBackup{}}, "/backup", http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Context = context.Background()
			app := fiber.New()
			Mount(app, tc.cfg)
			res, err := app.Test(httptest.NewRequest("GET", tc.path, nil), -1)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if res.StatusCode != tc.status {
				t.Fatalf("GET %s: status %d, want %d", tc.path, res.StatusCode, tc.status)
			}
			if tc.path == "/healthz" {
				var h healthJSON
				if err := json.NewDecoder(res.Body).Decode(&h); err != nil || h.Status != "ok" {
					t.Fatalf("GET /healthz: %+v (%v)", h, err)
				}
			}
		})
	}
}

type nopBackup struct{}

func (nopBackup) Backup(io.Writer) (int64, error) { return 0, nil }
