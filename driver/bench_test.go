package driver_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shardgate/shardgate/internal/testenv"
	"github.com/shardgate/shardgate/internal/testenv/orchenv"
)

const benchRows = 10000

var benchOnce sync.Once

// benchSetup fills drv.sbtest (sysbench's table shape) once.
func benchSetup(b *testing.B) *testenv.Replication {
	r := replication(b)
	benchOnce.Do(func() {
		direct(b, r.Master, func(db *sql.DB) {
			var n int
			if db.QueryRow("SELECT COUNT(*) FROM sbtest").Scan(&n); n == benchRows {
				return
			}
			if _, err := db.Exec("TRUNCATE sbtest"); err != nil {
				b.Fatal(err)
			}
			for start := 1; start <= benchRows; start += 1000 {
				var sb strings.Builder
				sb.WriteString("INSERT INTO sbtest VALUES ")
				for i := start; i < start+1000; i++ {
					if i > start {
						sb.WriteByte(',')
					}
					fmt.Fprintf(&sb, "(%d, %d, '%0120d', '%060d')", i, i*7%benchRows, i, i)
				}
				if _, err := db.Exec(sb.String()); err != nil {
					b.Fatal(err)
				}
			}
		})
		r.Sync(b)
	})
	return r
}

// benchDBs opens go-sql-driver straight to slave 0 and shardgate with that
// slave as its only one (so that both read from the same server), with the
// same go-sql-driver parameters.
func benchDBs(b *testing.B, params string) (directDB, sg *sql.DB) {
	r := benchSetup(b)
	srv := testenv.StartEtcd(b, testenv.Require(b, "etcd"))
	directDB, err := sql.Open("mysql", fmt.Sprintf("root:%s@tcp(%s)/drv?%s", testenv.RootPassword, r.Slaves[0].Addr(), params))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { directDB.Close() })
	ds := func(m *testenv.MariaDB) string {
		return fmt.Sprintf(`{url: "mysql://%s/drv?%s", username: root, password: %s}`, m.Addr(), params, testenv.RootPassword)
	}
	y := fmt.Sprintf(`
users: [{name: app, password: app-secret}]
dataSources:
  ds_master: %s
  ds_slave_0: %s
masterSlaveRule: {masterDataSourceName: ds_master, slaveDataSourceNames: [ds_slave_0]}
orchestration:
  name: bench
  overwrite: true
  instanceIP: 127.0.0.1
  registry: {type: etcd, serverLists: [%s]}
`, ds(r.Master), ds(r.Slaves[0]), srv.Endpoint)
	p := filepath.Join(b.TempDir(), "bench.yaml")
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		b.Fatal(err)
	}
	sg, err = sql.Open("shardgate", p)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sg.Close() })
	for _, db := range []*sql.DB{directDB, sg} {
		db.SetMaxIdleConns(8)
		if err := db.Ping(); err != nil {
			b.Fatal(err)
		}
	}
	return directDB, sg
}

const pointSelect = "SELECT c FROM sbtest WHERE id = ?"

// BenchmarkPointSelect compares one point select (sysbench's
// oltp_point_select statement) through go-sql-driver straight to the
// server and through shardgate's driver, in one run.
//
//	go test -run '^$' -bench PointSelect -benchtime 20000x -count 5 ./driver
//
// prepared: db.Prepare once, then stmt.QueryRow (both prepare once per
// backend connection). interpolated: db.QueryRow with
// interpolateParams=true on both. interleaved: both paths in alternation
// inside one loop, reporting each one's mean latency and the overhead, so
// that machine noise hits both alike.
func BenchmarkPointSelect(b *testing.B) {
	for _, mode := range []struct{ name, params string }{
		{"prepared", ""},
		{"interpolated", "interpolateParams=true"},
	} {
		b.Run(mode.name, func(b *testing.B) {
			directDB, sg := benchDBs(b, mode.params)
			run := func(db *sql.DB) func(id int) error {
				if mode.params != "" {
					return func(id int) error {
						var c string
						return db.QueryRow(pointSelect, id).Scan(&c)
					}
				}
				st, err := db.Prepare(pointSelect)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { st.Close() })
				return func(id int) error {
					var c string
					return st.QueryRow(id).Scan(&c)
				}
			}
			for _, p := range []struct {
				name string
				f    func(int) error
			}{{"direct", run(directDB)}, {"shardgate", run(sg)}} {
				b.Run(p.name, func(b *testing.B) {
					for i := range 200 { // warm up pools and caches
						p.f(i%benchRows + 1)
					}
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; b.Loop(); i++ {
						if err := p.f(i%benchRows + 1); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
			b.Run("interleaved", func(b *testing.B) {
				d, s := run(directDB), run(sg)
				var td, ts time.Duration
				n := 0
				for i := 0; b.Loop(); i++ {
					id := i%benchRows + 1
					// Alternate which goes first: the second of a pair
					// finds caches the first warmed.
					first, second, t1st, t2nd := d, s, &td, &ts
					if i%2 == 1 {
						first, second, t1st, t2nd = s, d, &ts, &td
					}
					t0 := time.Now()
					if err := first(id); err != nil {
						b.Fatal(err)
					}
					t1 := time.Now()
					if err := second(id); err != nil {
						b.Fatal(err)
					}
					*t1st += t1.Sub(t0)
					*t2nd += time.Since(t1)
					n++
				}
				b.ReportMetric(float64(td.Nanoseconds())/float64(n), "direct-ns/query")
				b.ReportMetric(float64(ts.Nanoseconds())/float64(n), "shardgate-ns/query")
				b.ReportMetric(100*(float64(ts)-float64(td))/float64(td), "overhead-%")
			})
		})
	}
}

// BenchmarkPointSelectParallel is the prepared point select from two
// goroutines at once, for throughput (ns/op is wall time per query).
func BenchmarkPointSelectParallel(b *testing.B) {
	directDB, sg := benchDBs(b, "")
	for _, p := range []struct {
		name string
		db   *sql.DB
	}{{"direct", directDB}, {"shardgate", sg}} {
		b.Run(p.name, func(b *testing.B) {
			st, err := p.db.Prepare(pointSelect)
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			b.ReportAllocs()
			b.SetParallelism(2)
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					var c string
					if err := st.QueryRowContext(context.Background(), i%benchRows+1).Scan(&c); err != nil {
						b.Error(err)
						return
					}
					i++
				}
			})
		})
	}
}

// BenchmarkPropagation measures, through the driver, the time from a
// registry write that disables (or enables) a slave to the moment the
// view every statement loads honours it. p50 and p99 over b.N toggles.
//
//	go test -run '^$' -bench Propagation -benchtime 200x ./driver
func BenchmarkPropagation(b *testing.B) {
	r := replication(b)
	for _, be := range []struct {
		name  string
		start func(testing.TB, string) *orchenv.Registry
	}{{"etcd", orchenv.Etcd}, {"zookeeper", orchenv.ZooKeeper}} {
		b.Run(be.name, func(b *testing.B) {
			env := be.start(b, "propagation")
			reg := env.Client(b)
			_, c := openConnector(b, instanceFile(b, r, env.YAML, "propagation", ""))
			ctx := context.Background()
			lat := make([]time.Duration, 0, b.N)
			for i := 0; b.Loop(); i++ {
				disable := i%2 == 0
				val := []byte("")
				if disable {
					val = []byte("DISABLED")
				}
				start := time.Now()
				if _, err := reg.Put(ctx, "/state/datasources/ds_slave_0", val); err != nil {
					b.Fatal(err)
				}
				for c.Snapshot().ByName["ds_slave_0"].Disabled != disable {
					if time.Since(start) > 10*time.Second {
						b.Fatalf("toggle %d not applied within 10s", i)
					}
					time.Sleep(50 * time.Microsecond)
				}
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
