// pgx v5 compatibility suite: what Go applications do, against the endpoint in CLARUS_* (normally
// the Clarus proxy), with every write checked on the backend through BACKEND_* directly.
// Tables are prefixed compat_go_ so the three client suites never collide.
package compat

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

func connString(prefix string, password string) string {
	get := func(k, d string) string {
		if v := os.Getenv(prefix + "_" + k); v != "" {
			return v
		}
		return d
	}
	if password == "" {
		password = get("PASSWORD", "")
	}
	q := url.Values{}
	q.Set("sslmode", get("SSLMODE", "disable"))
	if ca := get("SSLROOTCERT", ""); ca != "" {
		q.Set("sslrootcert", ca)
	}
	q.Set("application_name", "clarus-compat-pgx")
	q.Set("connect_timeout", "10")
	u := url.URL{Scheme: "postgres", User: url.UserPassword(get("USER", "postgres"), password),
		Host: get("HOST", "127.0.0.1") + ":" + get("PORT", "5432"), Path: "/" + get("DATABASE", "postgres"), RawQuery: q.Encode()}
	return u.String()
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func connectWith(t *testing.T, prefix string, mode pgx.QueryExecMode) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(connString(prefix, ""))
	if err != nil {
		t.Fatalf("parse config: %v", err)
	}
	cfg.DefaultQueryExecMode = mode
	c, err := pgx.ConnectConfig(ctx(t), cfg)
	if err != nil {
		t.Fatalf("connect %s: %v", prefix, err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// app connects to the endpoint under test with pgx's default: cached prepared statements, binary.
func app(t *testing.T) *pgx.Conn { return connectWith(t, "CLARUS", pgx.QueryExecModeCacheStatement) }

func backend(t *testing.T) *pgx.Conn {
	return connectWith(t, "BACKEND", pgx.QueryExecModeSimpleProtocol)
}

func resetTable(t *testing.T, name, columns string) {
	t.Helper()
	b := backend(t)
	if _, err := b.Exec(ctx(t), fmt.Sprintf("DROP TABLE IF EXISTS %s; CREATE TABLE %s (%s)", name, name, columns)); err != nil {
		t.Fatalf("reset %s: %v", name, err)
	}
}

func backendString(t *testing.T, sql string) string {
	t.Helper()
	var s string
	if err := backend(t).QueryRow(ctx(t), sql).Scan(&s); err != nil {
		t.Fatalf("backend %q: %v", sql, err)
	}
	return s
}

func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

func TestConnectScramTLS(t *testing.T) {
	c := app(t)
	var n int
	if err := c.QueryRow(ctx(t), "SELECT 40 + 2").Scan(&n); err != nil || n != 42 {
		t.Fatalf("query after connect: %v %d", err, n)
	}
	mode := os.Getenv("CLARUS_SSLMODE")
	wantTLS := mode != "" && !strings.Contains("disable allow prefer", mode)
	if _, isTLS := c.PgConn().Conn().(*tls.Conn); isTLS != wantTLS {
		t.Fatalf("TLS in use: %v, wanted %v (sslmode %q)", isTLS, wantTLS, mode)
	}
	if c.PgConn().ParameterStatus("server_version") == "" {
		t.Fatalf("no server_version ParameterStatus")
	}
}

func TestWrongPassword28P01(t *testing.T) {
	c, err := pgx.Connect(ctx(t), connString("CLARUS", "definitely-wrong"))
	if err == nil {
		_ = c.Close(context.Background())
		t.Fatal("a wrong password was accepted")
	}
	if sqlState(err) != "28P01" {
		t.Fatalf("want 28P01, got %q: %v", sqlState(err), err)
	}
}

func TestExecModes(t *testing.T) {
	modes := map[string]pgx.QueryExecMode{
		"cache_statement": pgx.QueryExecModeCacheStatement, "cache_describe": pgx.QueryExecModeCacheDescribe,
		"describe_exec": pgx.QueryExecModeDescribeExec, "exec": pgx.QueryExecModeExec, "simple": pgx.QueryExecModeSimpleProtocol,
	}
	for name, mode := range modes {
		t.Run(name, func(t *testing.T) {
			c := connectWith(t, "CLARUS", mode)
			for i := 0; i < 5; i++ {
				var s string
				var n int64
				var ok bool
				if err := c.QueryRow(ctx(t), "SELECT $1::text || 'x', $2::int8 * 2, $3::bool", fmt.Sprint("v", i), int64(i)<<33, i%2 == 0).Scan(&s, &n, &ok); err != nil {
					t.Fatal(err)
				}
				if s != fmt.Sprint("v", i, "x") || n != int64(i)<<34 || ok != (i%2 == 0) {
					t.Fatalf("got %q %d %v", s, n, ok)
				}
			}
		})
	}
}

func TestPreparedNamed(t *testing.T) {
	resetTable(t, "compat_go_prep", "id int PRIMARY KEY, label text")
	c := app(t)
	if _, err := c.Prepare(ctx(t), "ins", "INSERT INTO compat_go_prep VALUES ($1, $2)"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if _, err := c.Exec(ctx(t), "ins", i, fmt.Sprint("row ", i)); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := c.QueryRow(ctx(t), "SELECT count(*) FROM pg_prepared_statements WHERE name = 'ins'").Scan(&n); err != nil || n != 1 {
		t.Fatalf("prepared statement not on the session: %v %d", err, n)
	}
	if err := c.Deallocate(ctx(t), "ins"); err != nil {
		t.Fatal(err)
	}
	if got := backendString(t, "SELECT count(*) || ':' || sum(id) FROM compat_go_prep"); got != "20:190" {
		t.Fatalf("backend rows %s", got)
	}
}

func TestBatchPipeline(t *testing.T) {
	resetTable(t, "compat_go_batch", "id int PRIMARY KEY, v text")
	c := app(t)
	b := &pgx.Batch{}
	for i := 0; i < 500; i++ {
		b.Queue("INSERT INTO compat_go_batch VALUES ($1, $2)", i, fmt.Sprint("v", i))
	}
	b.Queue("SELECT count(*) FROM compat_go_batch")
	res := c.SendBatch(ctx(t), b)
	for i := 0; i < 500; i++ {
		if _, err := res.Exec(); err != nil {
			t.Fatalf("batch insert %d: %v", i, err)
		}
	}
	var n int
	if err := res.QueryRow().Scan(&n); err != nil || n != 500 {
		t.Fatalf("count in batch: %v %d", err, n)
	}
	if err := res.Close(); err != nil {
		t.Fatal(err)
	}
	if got := backendString(t, "SELECT count(*) || ':' || sum(id) FROM compat_go_batch"); got != "500:124750" {
		t.Fatalf("backend rows %s", got)
	}
}

func TestBatchErrorIsolated(t *testing.T) {
	resetTable(t, "compat_go_batcherr", "id int PRIMARY KEY")
	c := app(t)
	b := &pgx.Batch{}
	b.Queue("INSERT INTO compat_go_batcherr VALUES (1)")
	b.Queue("INSERT INTO compat_go_batcherr VALUES (1)")
	b.Queue("INSERT INTO compat_go_batcherr VALUES (2)")
	err := c.SendBatch(ctx(t), b).Close()
	if sqlState(err) != "23505" {
		t.Fatalf("want 23505 from the batch, got %v", err)
	}
	var one int
	if err := c.QueryRow(ctx(t), "SELECT 1").Scan(&one); err != nil {
		t.Fatalf("connection unusable after batch error: %v", err)
	}
	// A batch is one implicit transaction: the failure rolls back the first insert too.
	if got := backendString(t, "SELECT count(*)::text FROM compat_go_batcherr"); got != "0" {
		t.Fatalf("backend rows %s", got)
	}
}

func TestBinaryTypes(t *testing.T) {
	c := app(t)
	ts := time.Date(2024, 2, 29, 12, 34, 56, 789000000, time.UTC)
	u := [16]byte{0x12, 0x34, 0x56, 0x78, 0x12, 0x34, 0x56, 0x78, 0x12, 0x34, 0x56, 0x78, 0x12, 0x34, 0x56, 0x78}
	var (
		gotInt  int64
		gotB    []byte
		gotNum  pgtype.Numeric
		gotTs   time.Time
		gotU    pgtype.UUID
		gotArr  []*int32
		gotJSON map[string]any
		gotF    float64
	)
	three := int32(3)
	err := c.QueryRow(ctx(t), "SELECT $1::int8, $2::bytea, $3::numeric, $4::timestamptz, $5::uuid, $6::int4[], $7::jsonb, $8::float8",
		int64(1)<<40, []byte{0, 1, 0xfe, 0xff}, "12345.6789", ts, pgtype.UUID{Bytes: u, Valid: true},
		[]*int32{nil, &three}, map[string]any{"k": "é"}, 3.25).Scan(&gotInt, &gotB, &gotNum, &gotTs, &gotU, &gotArr, &gotJSON, &gotF)
	if err != nil {
		t.Fatal(err)
	}
	num, _ := gotNum.Value()
	if gotInt != 1<<40 || !bytes.Equal(gotB, []byte{0, 1, 0xfe, 0xff}) || num != "12345.6789" || !gotTs.Equal(ts) ||
		gotU.Bytes != u || len(gotArr) != 2 || gotArr[0] != nil || *gotArr[1] != 3 || gotJSON["k"] != "é" || gotF != 3.25 {
		t.Fatalf("binary round trip: %v %x %v %v %x %v %v %v", gotInt, gotB, num, gotTs, gotU.Bytes, gotArr, gotJSON, gotF)
	}
	rows, err := c.Query(ctx(t), "SELECT 1::int4")
	if err != nil {
		t.Fatal(err)
	}
	fds := rows.FieldDescriptions()
	rows.Close()
	if len(fds) != 1 || fds[0].Format != pgx.BinaryFormatCode {
		t.Fatalf("result not in binary format: %+v", fds)
	}
}

func TestCopyFromAndTo(t *testing.T) {
	resetTable(t, "compat_go_copy", "id int, name text, data bytea")
	c := app(t)
	rows := make([][]any, 1000)
	for i := range rows {
		var name any = fmt.Sprintf("nämé-%d ✓", i)
		if i%10 == 0 {
			name = nil
		}
		rows[i] = []any{int32(i), name, bytes.Repeat([]byte{byte(i)}, i%5)}
	}
	n, err := c.CopyFrom(ctx(t), pgx.Identifier{"compat_go_copy"}, []string{"id", "name", "data"}, pgx.CopyFromRows(rows))
	if err != nil || n != 1000 {
		t.Fatalf("CopyFrom (binary COPY): %v %d", err, n)
	}
	var out bytes.Buffer
	tag, err := c.PgConn().CopyTo(ctx(t), &out, "COPY (SELECT id, name FROM compat_go_copy ORDER BY id) TO STDOUT")
	if err != nil || tag.RowsAffected() != 1000 {
		t.Fatalf("CopyTo: %v %v", err, tag)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 1000 || lines[0] != "0\t\\N" || lines[1] != "1\tnämé-1 ✓" {
		t.Fatalf("copied out %d lines, first %q", len(lines), lines[:2])
	}
	got := backendString(t, "SELECT count(*) || ':' || count(name) || ':' || max(name) || ':' || sum(length(data)) FROM compat_go_copy")
	if got != "1000:900:nämé-999 ✓:2000" {
		t.Fatalf("backend rows %s", got)
	}
}

func TestTransactionsSavepoints(t *testing.T) {
	resetTable(t, "compat_go_tx", "id int PRIMARY KEY")
	c := app(t)
	tx, err := c.Begin(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = tx.Exec(ctx(t), "INSERT INTO compat_go_tx VALUES (1)")
	if err := tx.Rollback(ctx(t)); err != nil {
		t.Fatal(err)
	}
	err = pgx.BeginFunc(ctx(t), c, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx(t), "INSERT INTO compat_go_tx VALUES (2)"); err != nil {
			return err
		}
		nested := pgx.BeginFunc(ctx(t), tx, func(sp pgx.Tx) error { // savepoint
			if _, err := sp.Exec(ctx(t), "INSERT INTO compat_go_tx VALUES (3)"); err != nil {
				return err
			}
			_, err := sp.Exec(ctx(t), "INSERT INTO compat_go_tx VALUES (2)")
			return err
		})
		if sqlState(nested) != "23505" {
			return fmt.Errorf("savepoint body: want 23505, got %v", nested)
		}
		_, err := tx.Exec(ctx(t), "INSERT INTO compat_go_tx VALUES (4)")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := backendString(t, "SELECT string_agg(id::text, ',' ORDER BY id) FROM compat_go_tx"); got != "2,4" {
		t.Fatalf("backend rows %s", got)
	}
}

func TestErrorSQLStates(t *testing.T) {
	resetTable(t, "compat_go_err", "id int PRIMARY KEY")
	c := app(t)
	if _, err := c.Exec(ctx(t), "INSERT INTO compat_go_err VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	for stmt, want := range map[string]string{
		"INSERT INTO compat_go_err VALUES (1)": "23505", "SELEC 1": "42601",
		"SELECT 1/0": "22012", "SELECT * FROM compat_go_missing": "42P01",
	} {
		if _, err := c.Exec(ctx(t), stmt); sqlState(err) != want {
			t.Errorf("%s: want %s, got %v", stmt, want, err)
		}
	}
	var n int
	if err := c.QueryRow(ctx(t), "SELECT count(*) FROM compat_go_err").Scan(&n); err != nil || n != 1 {
		t.Fatalf("after errors: %v %d", err, n)
	}
}

func TestNullsAndUnicode(t *testing.T) {
	resetTable(t, "compat_go_text", "id int, t text, n int")
	values := []*string{}
	want := []string{}
	for _, s := range []string{"", "plain", "Ünïcødé", "日本語テキスト", "emoji 🐘🔐", "e\u0301 combining", "q ' \" \\"} {
		s := s
		values = append(values, &s)
		want = append(want, hex.EncodeToString([]byte(s)))
	}
	values = append(values, nil)
	want = append(want, "NULL")
	c := app(t)
	for i, v := range values {
		if _, err := c.Exec(ctx(t), "INSERT INTO compat_go_text VALUES ($1, $2, $3)", i, v, nil); err != nil {
			t.Fatal(err)
		}
	}
	rows, _ := c.Query(ctx(t), "SELECT t, n FROM compat_go_text ORDER BY id")
	i := 0
	for rows.Next() {
		var s *string
		var n *int32
		if err := rows.Scan(&s, &n); err != nil {
			t.Fatal(err)
		}
		if (s == nil) != (values[i] == nil) || (s != nil && *s != *values[i]) || n != nil {
			t.Fatalf("row %d read back %v %v", i, s, n)
		}
		i++
	}
	if rows.Err() != nil || i != len(values) {
		t.Fatalf("rows: %v, %d", rows.Err(), i)
	}
	got := backendString(t, "SELECT string_agg(coalesce(encode(convert_to(t, 'UTF8'), 'hex'), 'NULL'), ',' ORDER BY id) FROM compat_go_text")
	if got != strings.Join(want, ",") {
		t.Fatalf("backend bytes %s", got)
	}
}

func TestLargeValues(t *testing.T) {
	resetTable(t, "compat_go_large", "id int, t text, b bytea")
	text := strings.Repeat("large value ✓ ", 400_000)
	blob := make([]byte, 4<<20)
	rand.New(rand.NewSource(7)).Read(blob)
	c := app(t)
	if _, err := c.Exec(ctx(t), "INSERT INTO compat_go_large VALUES (1, $1, $2)", text, blob); err != nil {
		t.Fatal(err)
	}
	var gotT string
	var gotB []byte
	if err := c.QueryRow(ctx(t), "SELECT t, b FROM compat_go_large").Scan(&gotT, &gotB); err != nil {
		t.Fatal(err)
	}
	if gotT != text || !bytes.Equal(gotB, blob) {
		t.Fatal("large values differ when read back")
	}
	sum := md5.Sum(blob)
	if got := backendString(t, "SELECT md5(b) FROM compat_go_large"); got != hex.EncodeToString(sum[:]) {
		t.Fatalf("backend md5 %s", got)
	}
}

func TestListenNotify(t *testing.T) {
	l := app(t)
	s := app(t)
	if _, err := l.Exec(ctx(t), "LISTEN compat_go_chan"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Exec(ctx(t), "SELECT pg_notify('compat_go_chan', 'hello ✓')"); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx(t), 10*time.Second)
	defer cancel()
	n, err := l.WaitForNotification(wctx)
	if err != nil || n.Channel != "compat_go_chan" || n.Payload != "hello ✓" {
		t.Fatalf("notification %+v %v", n, err)
	}
}

func TestCancelRequest(t *testing.T) {
	c := app(t)
	go func() {
		time.Sleep(500 * time.Millisecond)
		_ = c.PgConn().CancelRequest(context.Background())
	}()
	_, err := c.Exec(ctx(t), "SELECT pg_sleep(30) -- compat_go_cancel")
	if sqlState(err) != "57014" {
		t.Fatalf("want 57014 from the cancelled statement, got %v", err)
	}
	var n int
	if err := c.QueryRow(ctx(t), "SELECT 5").Scan(&n); err != nil || n != 5 {
		t.Fatalf("connection unusable after cancel: %v", err)
	}
	got := backendString(t, "SELECT count(*)::text FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%compat_go_cancel' AND pid <> pg_backend_pid()")
	if got != "0" {
		t.Fatalf("the cancelled query still runs on the backend (%s)", got)
	}
}
