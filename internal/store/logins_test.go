package store_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/enrich"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/testenv"
)

// The window path (for tenants and heavy users) must page exactly as
// sorting everything does.
func TestWindowedPagesMatchDirectReads(t *testing.T) {
	s, _ := testenv.OpenStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	b := store.NewBatch(300)
	for i := range 300 {
		// Spread over 60 days, newest first, two users, a few sharing a second.
		at := now.Add(-time.Duration(i*i) * 10 * time.Minute / 4)
		ev := &event.Event{ID: fmt.Sprintf("ev-%03d", i), Kind: event.KindLogin, TenantID: "t1",
			UserID: fmt.Sprintf("u%d", i%2), OccurredAt: at, IPAddress: "81.2.69.1", Status: event.StatusSuccess}
		b.Add(ev, enrich.Result{}, now)
	}
	if err := s.Insert(ctx, b); err != nil {
		t.Fatal(err)
	}
	for _, f := range []store.LoginFilter{{TenantID: "t1"}, {TenantID: "t1", UserID: "u1"}} {
		for _, pg := range [][2]int{{0, 25}, {25, 25}, {140, 10}, {290, 25}} {
			restore := store.SetDirectReadMax(1 << 62)
			direct, total, err := s.Logins(ctx, f, pg[0], pg[1])
			restore()
			if err != nil {
				t.Fatal(err)
			}
			restore = store.SetDirectReadMax(0)
			windowed, wtotal, err := s.Logins(ctx, f, pg[0], pg[1])
			restore()
			if err != nil {
				t.Fatal(err)
			}
			if total != wtotal || !reflect.DeepEqual(ids(direct), ids(windowed)) || (pg[0] < int(total) && len(direct) == 0) {
				t.Errorf("user %q page %v: direct %v (%d) != windowed %v (%d)", f.UserID, pg, ids(direct), total, ids(windowed), wtotal)
			}
		}
	}
}

func ids(ls []store.Login) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.ID
	}
	return out
}
