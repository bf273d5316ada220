package driver_test

import (
	"context"
	"fmt"
	"github.com/shardgate/shardgate/internal/testenv/orchenv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shardgate/shardgate/orchestration"
)

// TestChurn runs reads, prepared reads, writes and transactions from
// several goroutines while a slave is toggled DISABLED/enabled and a data
// source's settings change (so its pool is replaced under load): no
// statement may fail, and no read reaches a slave disabled in the view it
// was routed with.
func TestChurn(t *testing.T) {
	r := replication(t)
	env := orchenv.Etcd(t, "churn")
	reg := env.Client(t)
	db, c := openConnector(t, instanceFile(t, r, env.YAML, "churn", `readYourWrites: "off"`))
	db.SetMaxOpenConns(8)
	slave0 := r.Slaves[0].ServerID
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var statements, violations atomic.Int64
	errs := make(chan error, 100)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := db.Prepare("SELECT @@server_id + 0 * ?")
			if err != nil {
				errs <- err
				return
			}
			defer st.Close()
			for i := 0; ctx.Err() == nil; i++ {
				var id int
				var err error
				// A statement that ran while no new view was published was
				// routed with this one, so must honour its disable.
				before := c.Snapshot()
				switch i % 4 {
				case 0:
					err = db.QueryRow("SELECT @@server_id").Scan(&id)
				case 1:
					err = st.QueryRow(i).Scan(&id)
				case 2:
					_, err = db.Exec("REPLACE INTO drv.t VALUES (?, 'churn')", 100+w)
				case 3:
					tx, e := db.Begin()
					if e != nil {
						err = e
						break
					}
					if _, e := tx.Exec("UPDATE drv.t SET v = 'churn-tx' WHERE id = ?", 100+w); e != nil {
						tx.Rollback()
						err = e
						break
					}
					err = tx.Commit()
				}
				if err != nil {
					errs <- fmt.Errorf("worker %d statement %d: %w", w, i, err)
					return
				}
				if id == slave0 && before.ByName["ds_slave_0"].Disabled && c.Snapshot() == before {
					violations.Add(1)
				}
				statements.Add(1)
			}
		}()
	}

	ds, _, err := reg.Get(ctx, orchestration.ConfigDataSources)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 60 {
		v := []byte("")
		if i%2 == 0 {
			v = []byte("DISABLED")
		}
		if _, err := reg.Put(ctx, "/state/datasources/ds_slave_0", v); err != nil {
			t.Fatal(err)
		}
		if i%6 == 0 {
			size := fmt.Sprintf("maxPoolSize: %d", 60+i%12)
			if _, err := reg.Put(ctx, orchestration.ConfigDataSources, []byte(strings.ReplaceAll(string(ds), "maxPoolSize: 64", size))); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(30 * time.Millisecond)
		select {
		case err := <-errs:
			t.Fatal(err)
		default:
		}
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := violations.Load(); n != 0 {
		t.Fatalf("%d reads reached slave0 while its disable was in force", n)
	}
	if s := c.Status(); s.ConfigError != "" {
		t.Fatalf("config rejected: %s", s.ConfigError)
	}
	t.Logf("%d statements, 60 slave toggles, 10 pool replacements, 0 errors", statements.Load())
}
