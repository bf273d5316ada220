package orchestration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/shardgate/shardgate/registry"
)

// WorkersDir holds the SNOWFLAKE worker ids: /workers/{id} (persistent)
// keeps the id's high-water mark, /workers/{id}/holder (ephemeral, an
// exclusive create) says who holds it now.
const WorkersDir = "/workers"

// MaxWorkers is the number of SNOWFLAKE worker ids (10 bits).
const MaxWorkers = 1024

const (
	// workerWindow is how far ahead of its clock a holder reserves an id:
	// keys are issued only up to the reservation, which is renewed every
	// workerWindow/3, so a holder cut off from the registry stops within it
	// and a later holder of the id starts after it.
	workerWindow = 3 * time.Second
	// workerRetry is the pause between failed claims.
	workerRetry = time.Second
)

// WorkerPath is the high-water node of worker id id.
func WorkerPath(id int) string { return WorkersDir + "/" + strconv.Itoa(id) }

// WorkerHolderPath is the claim node of worker id id.
func WorkerHolderPath(id int) string { return WorkerPath(id) + "/holder" }

// KeyGenerator is what a worker claim feeds: the engine's SNOWFLAKE
// generator.
type KeyGenerator interface {
	// Wanted is closed when the first key is asked for.
	Wanted() <-chan struct{}
	// Grant gives worker id id, keys after floor and up to until.
	Grant(id int64, floor, until time.Time)
	Extend(until time.Time)
	Revoke(why error)
	// Worker is the id held (-1: none) and the time of the last key.
	Worker() (id int64, last time.Time)
}

// highWater is the value of a worker id's node.
type highWater struct {
	// HighWater is the last millisecond (Unix) a holder may have issued
	// keys in: its reservation, or its last key once it let go.
	HighWater int64 `json:"highWater"`
	// Holder is the claim that wrote it (instance id and nonce).
	Holder string `json:"holder"`
}

// WorkerClaim keeps one worker id claimed for one instance's generator,
// from the first key asked for until Close: the lowest free id, by an
// exclusive ephemeral create; again after a session loss.
type WorkerClaim struct {
	reg registry.Registry
	gen KeyGenerator
	// token is the claim's name in the holder and high-water nodes: the
	// instance id and a nonce (instances of one process share an id).
	token  string
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}

	mu sync.Mutex
	id int // -1: none
}

// ClaimWorker starts claiming for gen (once it wants a key) on behalf of
// instance who.
func ClaimWorker(reg registry.Registry, who string, gen KeyGenerator) *WorkerClaim {
	nonce := make([]byte, 6)
	rand.Read(nonce)
	ctx, cancel := context.WithCancel(context.Background())
	w := &WorkerClaim{reg: reg, gen: gen, token: who + "#" + hex.EncodeToString(nonce),
		log: slog.Default().With("component", "workers"), cancel: cancel, done: make(chan struct{}), id: -1}
	go w.run(ctx)
	return w
}

// ID is the worker id held, -1 for none.
func (w *WorkerClaim) ID() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.id
}

func (w *WorkerClaim) setID(id int) {
	w.mu.Lock()
	w.id = id
	w.mu.Unlock()
}

func (w *WorkerClaim) run(ctx context.Context) {
	defer close(w.done)
	select {
	case <-w.gen.Wanted():
	case <-ctx.Done():
		return
	}
	for ctx.Err() == nil {
		id, ver, gen, err := w.claim(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			w.gen.Revoke(err)
			w.log.Error("no SNOWFLAKE worker id; keys wait for one", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(workerRetry):
			}
			continue
		}
		w.hold(ctx, id, ver, gen)
	}
}

// claim takes the lowest free id and reserves it: the generator gets it
// with the previous holder's high-water mark as floor.
func (w *WorkerClaim) claim(ctx context.Context) (int, registry.Version, uint64, error) {
	st, _ := w.reg.Session()
	for id := 0; id < MaxWorkers; id++ {
		err := w.reg.CreateEphemeral(ctx, WorkerHolderPath(id), []byte(w.token))
		if errors.Is(err, registry.ErrExists) {
			// Ours if a retried create had landed before.
			if v, _, gerr := w.reg.Get(ctx, WorkerHolderPath(id)); gerr != nil || string(v) != w.token {
				continue
			}
		} else if err != nil {
			return 0, 0, 0, fmt.Errorf("claim worker id %d: %w", id, err)
		}
		hw, ver, err := w.readHighWater(ctx, id)
		floor := time.UnixMilli(hw.HighWater)
		if hw.Holder == w.token {
			// Our own reservation, back after a session loss: no one held
			// the id since (they would have written theirs), so our last key
			// is the floor, and keys need not wait out the reservation.
			_, floor = w.gen.Worker()
		}
		if err != nil {
			w.release(id)
			if errors.Is(err, errBadHighWater) {
				w.log.Error("skipping a worker id whose node cannot be read", "err", err)
				continue
			}
			return 0, 0, 0, err
		}
		until := time.Now().Add(workerWindow)
		if floor.After(until) {
			// The previous holder's clock ran ahead: wait past it.
			until = floor.Add(workerWindow)
		}
		if ver, err = w.writeHighWater(ctx, id, until, ver); err != nil {
			w.release(id)
			return 0, 0, 0, err
		}
		w.gen.Grant(int64(id), floor, until)
		w.setID(id)
		w.log.Info("SNOWFLAKE worker id claimed", "id", id, "node", WorkerHolderPath(id), "floor", floor)
		return id, ver, st.Generation, nil
	}
	return 0, 0, 0, fmt.Errorf("claim a worker id: all %d SNOWFLAKE worker ids under %s are held", MaxWorkers, WorkersDir)
}

var errBadHighWater = errors.New("not a worker high-water mark")

// readHighWater is id's high-water mark (zero: never used) and the node's
// version (0: no node).
func (w *WorkerClaim) readHighWater(ctx context.Context, id int) (highWater, registry.Version, error) {
	var hw highWater
	v, ver, err := w.reg.Get(ctx, WorkerPath(id))
	if errors.Is(err, registry.ErrNotFound) {
		return hw, 0, nil
	}
	if err != nil {
		return hw, 0, fmt.Errorf("read %s: %w", WorkerPath(id), err)
	}
	if len(v) == 0 { // the parent created for the holder
		return hw, ver, nil
	}
	if err := json.Unmarshal(v, &hw); err != nil || hw.HighWater < 0 {
		return hw, 0, fmt.Errorf("%w: %s holds %.60q, want {\"highWater\": <unix ms>, \"holder\": …}", errBadHighWater, WorkerPath(id), v)
	}
	return hw, ver, nil
}

// writeHighWater sets id's mark to t if the node is still at version ver.
func (w *WorkerClaim) writeHighWater(ctx context.Context, id int, t time.Time, ver registry.Version) (registry.Version, error) {
	b, _ := json.Marshal(highWater{HighWater: t.UnixMilli(), Holder: w.token})
	var err error
	if ver == 0 {
		if ver, err = w.reg.Create(ctx, WorkerPath(id), b); errors.Is(err, registry.ErrExists) {
			// Created as the holder's parent meanwhile: read and swap.
			if _, ver, err = w.readHighWater(ctx, id); err == nil {
				ver, err = w.reg.CompareAndSet(ctx, WorkerPath(id), b, ver)
			}
		}
	} else {
		ver, err = w.reg.CompareAndSet(ctx, WorkerPath(id), b, ver)
	}
	if err != nil {
		return 0, fmt.Errorf("reserve worker id %d in %s: %w", id, WorkerPath(id), err)
	}
	return ver, nil
}

// hold renews id's reservation until the claim is lost or ctx ends.
func (w *WorkerClaim) hold(ctx context.Context, id int, ver registry.Version, gen uint64) {
	tick := time.NewTicker(workerWindow / 3)
	defer tick.Stop()
	for {
		st, changed := w.reg.Session()
		if st.Generation != gen {
			w.lost(id, fmt.Errorf("worker id %d: the registry session was lost with its claim; claiming again", id))
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
			continue
		case <-tick.C:
		}
		until := time.Now().Add(workerWindow)
		next, err := w.writeHighWater(ctx, id, until, ver)
		switch {
		case err == nil:
			ver = next
			w.gen.Extend(until)
		case errors.Is(err, registry.ErrBadVersion) || errors.Is(err, registry.ErrNotFound):
			w.lost(id, fmt.Errorf("worker id %d was changed in the registry by someone else; claiming again: %w", id, err))
			w.release(id)
			return
		case ctx.Err() == nil:
			// Keys stop by themselves when the reservation runs out.
			w.log.Warn("renewing the worker id reservation failed", "id", id, "err", err)
		}
	}
}

func (w *WorkerClaim) lost(id int, why error) {
	w.gen.Revoke(why)
	w.setID(-1)
	w.log.Warn("SNOWFLAKE worker id lost", "id", id, "err", why)
}

// release deletes id's holder node if it is still ours.
func (w *WorkerClaim) release(id int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if v, _, err := w.reg.Get(ctx, WorkerHolderPath(id)); err == nil && string(v) == w.token {
		w.reg.Delete(ctx, WorkerHolderPath(id), false)
	}
}

// Close stops claiming and lets the id go: the generator stops, the
// high-water mark is lowered to the last key's millisecond (so the next
// holder need not wait out the reservation) and the holder node deleted.
func (w *WorkerClaim) Close() error {
	w.cancel()
	<-w.done
	id := w.ID()
	if id < 0 {
		return nil
	}
	w.gen.Revoke(errors.New("the instance is closing"))
	_, last := w.gen.Worker()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, ver, err := w.readHighWater(ctx, id)
	if err == nil {
		_, err = w.writeHighWater(ctx, id, last, ver)
	}
	w.release(id)
	w.setID(-1)
	if err != nil {
		return fmt.Errorf("release worker id %d: %w", id, err)
	}
	return nil
}
