// Package erasure carries out a privacy request: erase one user's data
// everywhere authwatch keeps it (SPEC §3, DELETE /api/v1/users/{id}/history).
package erasure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/internal/bus"
	"github.com/authwatch/authwatch/internal/store"
)

// Job erases users. Requests are recorded in audit_log twice: when made
// ("user_erase", by the API) and when done ("user_erase_done", here, with
// what was removed), so an erasure cut short by a restart shows as
// requested and not done, and can simply be asked for again.
type Job struct {
	Store  *store.Store
	Rollup *store.Rollup
	// States returns the detector's state bucket, or nil when NATS or the
	// bucket is not there (then there is no state to erase, or it is
	// erased on the next request).
	States func() jetstream.KeyValue
	Log    *slog.Logger
	Wait   time.Duration // how long ClickHouse may take to apply the deletions; 10 min when zero
	Now    func() time.Time
}

// Run erases one user of a tenant: their rows in every table (raw events,
// alerts, the flag index, profiles, the token ↔ user map), the rollup
// buckets their events were counted in (computed again without them), and
// the detector's memory of them (known devices, places, hours).
func (j *Job) Run(ctx context.Context, tenant, user, actor string) error {
	wait := j.Wait
	if wait <= 0 {
		wait = 10 * time.Minute
	}
	now := time.Now
	if j.Now != nil {
		now = j.Now
	}
	erased, err := j.Store.EraseUser(ctx, tenant, user, actor, wait)
	if err != nil {
		return err
	}
	if !erased.From.IsZero() {
		for _, kind := range []string{"logins", "tokens"} {
			if err := j.Rollup.Recompute(ctx, kind, erased.From, erased.To.Add(time.Second), tenant); err != nil {
				return fmt.Errorf("erase: rollups: %w", err)
			}
		}
	}
	stateErased := false
	if j.States != nil {
		if kv := j.States(); kv != nil {
			err := kv.Purge(ctx, bus.UserStateKey(tenant, user))
			if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
				return fmt.Errorf("erase: detector state: %w", err)
			}
			stateErased = true
		}
	}
	detail, _ := json.Marshal(struct {
		Rows          map[string]uint64 `json:"rows"`
		DetectorState bool              `json:"detector_state_erased"`
	}{erased.Rows, stateErased})
	if err := j.Store.InsertAudit(ctx, store.AuditEntry{TenantID: tenant, At: now(), Actor: actor, Action: "user_erase_done",
		Target: user, Detail: string(detail)}); err != nil {
		return err
	}
	if j.Log != nil {
		j.Log.Info("user erased", "tenant", tenant, "user", user, "rows", erased.Rows, "detector_state", stateErased)
	}
	return nil
}
