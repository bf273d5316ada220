package testenv

import (
	"testing"
	"time"
)

func TestReplication(t *testing.T) {
	start := time.Now()
	r := StartReplication(t, 2)
	t.Logf("replication up in %v", time.Since(start))
	r.Master.Exec(t, "CREATE DATABASE h", "CREATE TABLE h.t (id INT PRIMARY KEY, v INT)", "INSERT INTO h.t VALUES (1, 10)")
	r.Sync(t)
	for i, m := range append([]*MariaDB{r.Master}, r.Slaves...) {
		var id, v int
		if err := m.DB(t, "h").QueryRow("SELECT @@server_id, v FROM t WHERE id = 1").Scan(&id, &v); err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		if id != i+1 || v != 10 {
			t.Errorf("%s: server_id %d v %d", m.Name, id, v)
		}
	}
	// A killed slave comes back and catches up.
	s := r.Slaves[1]
	s.Kill()
	r.Master.Exec(t, "INSERT INTO h.t VALUES (2, 20)")
	s.Start()
	r.Sync(t)
	var n int
	if err := s.DB(t, "h").QueryRow("SELECT COUNT(*) FROM t").Scan(&n); err != nil || n != 2 {
		t.Fatalf("after restart: %d rows, %v", n, err)
	}
}
