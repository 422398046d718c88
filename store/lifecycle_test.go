package store_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
)

// TestConcurrentDraftSaves: ten drafts of one service saved at once, beside an apply of a changed
// definition from files, each get their own version (the writers wait for each other on the
// service's row); none fails and no number is used twice. Before the fix, on Postgres, writers
// that computed the same next number failed on the primary key.
func TestConcurrentDraftSaves(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := bundle(t)
		apply(t, s, b, t0)
		const n = 10
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			versions []int
			errs     []error
		)
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d := b.Services[0]
				d.Summary = fmt.Sprintf("draft %d", i)
				<-start
				v, err := s.SaveDraft(ctx, d, 0, time.Now())
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
					return
				}
				versions = append(versions, v)
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			nb := bundle(t)
			nb.Services[0].Name = "Renamed from the files"
			<-start
			if _, err := s.ApplyBundle(ctx, nb, time.Now()); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("apply: %w", err))
				mu.Unlock()
			}
		}()
		close(start)
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("%d of %d concurrent writers failed: %v", len(errs), n+1, errs)
		}
		sort.Ints(versions)
		for i := 1; i < len(versions); i++ {
			if versions[i] == versions[i-1] {
				t.Fatalf("version %d was given twice: %v", versions[i], versions)
			}
		}
		si, err := s.Service(ctx, b.Services[0].Key)
		if err != nil {
			t.Fatal(err)
		}
		if si.Live < 2 || si.Live > n+2 || (si.Draft != 0 && si.Draft != versions[len(versions)-1]) {
			t.Fatalf("after the writers: %+v, drafts %v", si, versions)
		}
	})
}

// TestSaveDraftRetry: an activity retried after its save committed gets the version it saved,
// not a second one.
func TestSaveDraftRetry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := bundle(t)
		apply(t, s, b, t0)
		d := b.Services[0]
		d.Summary = "a draft"
		v1, err := s.SaveDraft(ctx, d, 0, t0)
		if err != nil || v1 != 2 {
			t.Fatalf("draft: %d %v", v1, err)
		}
		if again, err := s.SaveDraft(ctx, d, 0, t0); err != nil || again != v1 {
			t.Fatalf("the same save retried: %d %v, want %d", again, err, v1)
		}
		if next, err := s.SaveDraft(ctx, d, v1, t0); err != nil || next != 3 {
			t.Fatalf("the same definition saved again on purpose: %d %v, want 3", next, err)
		}
	})
}

// TestApplyRefusesRetired: catalog apply does not bring a retired service back by moving its
// live version behind its lifecycle's back.
func TestApplyRefusesRetired(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := bundle(t)
		apply(t, s, b, t0)
		key := b.Services[0].Key
		if err := s.SetStage(ctx, key, "retired", 1, 0, "", t0); err != nil {
			t.Fatal(err)
		}
		b.Services[0].Name = "Back from the dead"
		if _, err := s.ApplyBundle(ctx, b, t0); err == nil {
			t.Fatal("apply changed a retired service")
		}
		if si, _ := s.Service(ctx, key); si.Live != 1 {
			t.Fatalf("the retired service moved: %+v", si)
		}
	})
}
