// pgx into a k-anonymity table (k=5) through the Clarus proxy (issue 13): Begin, single-row INSERTs
// with binary parameters (pgx's cached prepared statements), Commit — the simple-protocol COMMIT pgx
// sends by default, a prepared COMMIT (extended protocol), and a pgx.Batch with the COMMIT
// pipelined behind the INSERTs. A COMMIT with fewer than k rows fails with 21000 and leaves the
// connection idle (pgx closes a connection whose failed COMMIT leaves a transaction open).
// Run by sidecar/test/integration/anonymize-drivers.test.ts (ANON_TABLE, ANON_ROWS set), which
// checks what the backend stores; skipped in the compat suite.
package compat

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const anonColumns = "ep_id, ep_age, ep_range, dis_id, dis_adm, dis_dis, dis_days, ep_pat, pat_gen, pat_zip, dia_id"

// anonArgs types a CSV row as pgx sends it: integers and dates in binary, the rest as text.
func anonArgs(t *testing.T, line string) []any {
	f := strings.Split(line, ",")
	args := make([]any, len(f))
	for i, v := range f {
		switch i {
		case 1, 2, 6:
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("row %q: %v", line, err)
			}
			args[i] = int32(n)
		case 4, 5:
			d, err := time.Parse("2006-01-02", v)
			if err != nil {
				t.Fatalf("row %q: %v", line, err)
			}
			args[i] = d
		default:
			args[i] = v
		}
	}
	return args
}

func TestAnonHeldCommit(t *testing.T) {
	table, file := os.Getenv("ANON_TABLE"), os.Getenv("ANON_ROWS")
	if table == "" || file == "" {
		t.Skip("ANON_TABLE and ANON_ROWS not set (run by anonymize-drivers.test.ts)")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	rows := strings.Split(strings.TrimSpace(string(data)), "\n")
	insert := "INSERT INTO " + table + " (" + anonColumns + ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
	cfg, err := pgx.ParseConfig(connString("CLARUS", ""))
	if err != nil {
		t.Fatal(err)
	}
	reports := 0
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		if strings.Contains(n.Message, "k-anonymity of") {
			reports++
		}
	}
	c, err := pgx.ConnectConfig(ctx(t), cfg)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	hold := func(from, to int) pgx.Tx {
		tx, err := c.Begin(ctx(t))
		if err != nil {
			t.Fatalf("begin: %v", err)
		}
		for i := from; i < to; i++ {
			tag, err := tx.Exec(ctx(t), insert, anonArgs(t, rows[i])...)
			if err != nil || tag.String() != "INSERT 0 1" {
				t.Fatalf("insert %d: %v %q", i, err, tag)
			}
		}
		return tx
	}
	// 1. The default: Commit sends a simple-protocol COMMIT.
	if err := hold(0, 6).Commit(ctx(t)); err != nil {
		t.Fatalf("commit: %v", err)
	}
	// 2. A prepared COMMIT: pgx's Commit then runs it through the extended protocol.
	if _, err := c.Prepare(ctx(t), "commit", "commit"); err != nil {
		t.Fatalf("prepare commit: %v", err)
	}
	for r := 0; r < 2; r++ {
		if err := hold(10+r*6, 16+r*6).Commit(ctx(t)); err != nil {
			t.Fatalf("prepared commit %d: %v", r, err)
		}
	}
	// 3. Fewer than k rows: the prepared COMMIT fails with 21000, the connection stays open and idle.
	err = hold(30, 33).Commit(ctx(t))
	if sqlState(err) != "21000" {
		t.Fatalf("commit of 3 rows: want 21000, got %v", err)
	}
	if c.IsClosed() || c.PgConn().TxStatus() != 'I' {
		t.Fatalf("after the failed COMMIT: closed %v, status %c", c.IsClosed(), c.PgConn().TxStatus())
	}
	// 4. A pgx.Batch: BEGIN, the INSERTs and the COMMIT pipelined in one round trip.
	b := &pgx.Batch{}
	b.Queue("begin")
	for i := 40; i < 47; i++ {
		b.Queue(insert, anonArgs(t, rows[i])...)
	}
	b.Queue("commit")
	if err := c.SendBatch(ctx(t), b).Close(); err != nil {
		t.Fatalf("batch: %v", err)
	}
	if c.PgConn().TxStatus() != 'I' {
		t.Fatalf("after the batch: status %c", c.PgConn().TxStatus())
	}
	// 5. The simple COMMIT failing the same way.
	if err := c.Deallocate(ctx(t), "commit"); err != nil {
		t.Fatalf("deallocate: %v", err)
	}
	err = hold(50, 52).Commit(ctx(t))
	if sqlState(err) != "21000" || c.IsClosed() || c.PgConn().TxStatus() != 'I' {
		t.Fatalf("simple commit of 2 rows: %v, closed %v, status %c", err, c.IsClosed(), c.PgConn().TxStatus())
	}
	var one int
	if err := c.QueryRow(ctx(t), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("after: %v", err)
	}
	// One batch report (NOTICE) per stored batch: 1, 2 and 4.
	if reports != 4 {
		t.Fatalf("k-anonymity reports: %d, want 4", reports)
	}
}
