package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/testenv"
)

// DELETE /api/v1/users/{id}/history: admin only, recorded, answered 202 at
// once; the user's history is then gone from the API, others' untouched.
func TestEraseUserHistory(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	a := newAPI(t, now, withErasure())
	for i, u := range []string{"alice", "bob"} {
		a.seed(&event.Event{ID: "e-" + u, Kind: event.KindLogin, TenantID: "acme", UserID: u,
			OccurredAt: now.Add(-time.Duration(i+1) * time.Hour), IPAddress: "203.0.113.9", Status: event.StatusSuccess,
			User: &event.UserProfile{Name: u, Email: u + "@example.com"}})
	}
	admin := a.token("acme", "admin-1", "admin.audit_log")

	if resp, _ := a.do(http.MethodDelete, a.token("acme", "alice"), "/api/v1/users/alice/history", nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("non-admin: %d, want 403", resp.StatusCode)
	}
	if resp, body := a.do(http.MethodDelete, admin, "/api/v1/users/"+strings.Repeat("x", 129)+"/history", nil); resp.StatusCode != http.StatusUnprocessableEntity ||
		!strings.Contains(string(body), "user_id") {
		t.Errorf("129-character id: %d %s, want 422 naming user_id", resp.StatusCode, body)
	}
	// An admin of another tenant naming alice erases that tenant's alice
	// (nobody here): acme's rows stay.
	other := a.token("other", "admin-9", "admin.audit_log")
	if resp, _ := a.do(http.MethodDelete, other, "/api/v1/users/alice/history", nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("other tenant's erase: %d, want 202", resp.StatusCode)
	}
	testenv.Eventually(t, 60*time.Second, "the other tenant's erasure done", func() bool {
		log, err := a.store.AuditLog(context.Background(), "other")
		return err == nil && len(log) == 2
	})
	resp, body := a.do(http.MethodDelete, admin, "/api/v1/users/alice/history", nil)
	var ack struct {
		UserID string `json:"user_id"`
	}
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(body, &ack) != nil || ack.UserID != "alice" {
		t.Fatalf("erase: %d %s, want 202 naming alice", resp.StatusCode, body)
	}
	tenantTotal := func() (total int) {
		code, body := a.get(admin, "/api/v1/login-history/tenant", nil)
		var page struct {
			Pagination struct {
				Total int `json:"total"`
			} `json:"pagination"`
		}
		if code != http.StatusOK || json.Unmarshal(body, &page) != nil {
			t.Fatalf("tenant history: %d %s", code, body)
		}
		return page.Pagination.Total
	}
	if n := tenantTotal(); n != 2 {
		t.Fatalf("after the other tenant's erasure acme holds %d logins, want 2", n)
	}
	testenv.Eventually(t, 60*time.Second, "alice's logins erased", func() bool { return tenantTotal() == 1 })
	code, body := a.get(a.token("acme", "bob"), "/api/v1/login-history", nil)
	if code != http.StatusOK || !strings.Contains(string(body), "e-bob") {
		t.Errorf("bob's history: %d %s", code, body)
	}
	testenv.Eventually(t, 60*time.Second, "the erasure recorded as requested, its span and done", func() bool {
		log, err := a.store.AuditLog(context.Background(), "acme")
		if err != nil || len(log) != 3 {
			return false
		}
		// audit_log keeps whole seconds: both rows may carry the same time,
		// so their order is not part of what is checked.
		actions := map[string]bool{}
		for _, e := range log {
			if e.Target != "alice" || e.Actor != "admin-1" {
				return false
			}
			actions[e.Action] = true
		}
		return actions["user_erase"] && actions["user_erase_span"] && actions["user_erase_done"]
	})
	// Her profile is gone from users and from its copy; bob's stays.
	for _, table := range []string{"users", "user_profiles"} {
		var alice, bob uint64
		if err := a.store.Conn().QueryRow(context.Background(), "SELECT countIf(user_id = 'alice'), countIf(user_id = 'bob') FROM "+table+
			" WHERE tenant_id = 'acme'").Scan(&alice, &bob); err != nil {
			t.Fatal(err)
		}
		if alice != 0 || bob == 0 {
			t.Errorf("%s after the erasure: %d rows of alice, %d of bob; want 0 and some", table, alice, bob)
		}
	}
}
