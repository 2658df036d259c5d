package dev.clarus.compat;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.sql.Statement;
import java.sql.Timestamp;
import java.sql.Types;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import org.postgresql.PGConnection;
import org.postgresql.PGStatement;
import org.postgresql.copy.CopyManager;

/**
 * pgjdbc compatibility suite: what Java applications do, against the endpoint in CLARUS_* (normally
 * the Clarus proxy), with every write checked on the backend through BACKEND_* directly. Prints one
 * PASS/FAIL line per test and a closing count; exit code 1 on any failure. Tables: compat_java_*.
 */
public final class PgjdbcCompat {
  interface Check { void run() throws Exception; }

  private PgjdbcCompat() {}

  static String env(String name, String dflt) {
    String v = System.getenv(name);
    return v == null || v.isEmpty() ? dflt : v;
  }

  static Connection connect(String prefix, Map<String, String> extra) throws SQLException {
    String url = "jdbc:postgresql://" + env(prefix + "_HOST", "127.0.0.1") + ":" + env(prefix + "_PORT", "5432")
        + "/" + env(prefix + "_DATABASE", "postgres");
    Properties p = new Properties();
    p.setProperty("user", env(prefix + "_USER", "postgres"));
    p.setProperty("password", env(prefix + "_PASSWORD", ""));
    p.setProperty("sslmode", env(prefix + "_SSLMODE", "disable"));
    String ca = env(prefix + "_SSLROOTCERT", "");
    if (!ca.isEmpty()) p.setProperty("sslrootcert", ca);
    p.setProperty("ApplicationName", "clarus-compat-pgjdbc");
    p.setProperty("connectTimeout", "10");
    p.putAll(extra);
    return DriverManager.getConnection(url, p);
  }

  static Connection app() throws SQLException { return connect("CLARUS", Map.of()); }
  static Connection app(Map<String, String> extra) throws SQLException { return connect("CLARUS", extra); }
  static Connection backend() throws SQLException { return connect("BACKEND", Map.of()); }

  static void check(boolean cond, String what) {
    if (!cond) throw new AssertionError(what);
  }

  static void resetTable(String name, String columns) throws SQLException {
    try (Connection b = backend(); Statement s = b.createStatement()) {
      s.execute("DROP TABLE IF EXISTS " + name);
      s.execute("CREATE TABLE " + name + " (" + columns + ")");
    }
  }

  static String backendString(String sql) throws SQLException {
    try (Connection b = backend(); Statement s = b.createStatement(); ResultSet rs = s.executeQuery(sql)) {
      check(rs.next(), "no row from backend: " + sql);
      return rs.getString(1);
    }
  }

  static void expectState(Connection c, String sql, String state) throws SQLException {
    try (Statement s = c.createStatement()) {
      s.execute(sql);
      throw new AssertionError(sql + " did not fail");
    } catch (SQLException e) {
      check(state.equals(e.getSQLState()), sql + ": SQLState " + e.getSQLState() + ", wanted " + state);
    }
  }

  static void connectScramTls() throws Exception {
    try (Connection c = app(); Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT 40 + 2")) {
      check(rs.next() && rs.getInt(1) == 42, "query after connect");
      check(c.getMetaData().getDatabaseMajorVersion() >= 15, "server version");
    }
  }

  static void wrongPassword() throws Exception {
    try (Connection c = app(Map.of("password", "definitely-wrong"))) {
      throw new AssertionError("a wrong password was accepted");
    } catch (SQLException e) {
      check("28P01".equals(e.getSQLState()), "SQLState " + e.getSQLState() + ": " + e.getMessage());
    }
  }

  /** prepareThreshold 0 keeps unnamed statements; 1 server-prepares (and uses binary) from the first run. */
  static void prepared(int threshold) throws Exception {
    String table = "compat_java_prep" + threshold;
    resetTable(table, "id int PRIMARY KEY, label text, amount numeric, at timestamp, flag boolean, raw bytea");
    Timestamp at = Timestamp.valueOf("2024-02-29 12:34:56.789");
    try (Connection c = app(Map.of("prepareThreshold", String.valueOf(threshold)))) {
      try (PreparedStatement ins = c.prepareStatement("INSERT INTO " + table + " VALUES (?, ?, ?, ?, ?, ?)")) {
        for (int i = 0; i < 10; i++) {
          ins.setInt(1, i);
          ins.setString(2, "label " + i);
          ins.setBigDecimal(3, new BigDecimal("1234.5678").multiply(BigDecimal.valueOf(i)));
          ins.setTimestamp(4, at);
          ins.setBoolean(5, i % 2 == 0);
          ins.setBytes(6, new byte[] {(byte) i, (byte) 0xff, 0});
          check(ins.executeUpdate() == 1, "insert count");
        }
        boolean server = ins.unwrap(PGStatement.class).isUseServerPrepare();
        check(server == (threshold > 0), "isUseServerPrepare=" + server + " with prepareThreshold=" + threshold);
      }
      try (PreparedStatement sel = c.prepareStatement("SELECT label, amount, at, flag, raw FROM " + table + " WHERE id = ?")) {
        for (int i = 0; i < 10; i++) {
          sel.setInt(1, i);
          try (ResultSet rs = sel.executeQuery()) {
            check(rs.next(), "row " + i);
            check(rs.getString(1).equals("label " + i), "label " + rs.getString(1));
            check(rs.getBigDecimal(2).compareTo(new BigDecimal("1234.5678").multiply(BigDecimal.valueOf(i))) == 0, "amount");
            check(rs.getTimestamp(3).equals(at), "timestamp " + rs.getTimestamp(3));
            check(rs.getBoolean(4) == (i % 2 == 0), "flag");
            check(HexFormat.of().formatHex(rs.getBytes(5)).equals(String.format("%02xff00", i)), "bytea");
          }
        }
      }
    }
    check(backendString("SELECT count(*) || ':' || sum(id) || ':' || sum(amount) FROM " + table).equals("10:45:55555.5510"),
        "backend rows");
  }

  static void executeBatch(boolean rewrite) throws Exception {
    String table = "compat_java_batch" + (rewrite ? "_rw" : "");
    resetTable(table, "id int PRIMARY KEY, v text");
    try (Connection c = app(Map.of("reWriteBatchedInserts", String.valueOf(rewrite)))) {
      c.setAutoCommit(false);
      try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + table + " (id, v) VALUES (?, ?)")) {
        for (int i = 0; i < 500; i++) {
          ps.setInt(1, i);
          ps.setString(2, "v" + i);
          ps.addBatch();
        }
        int[] counts = ps.executeBatch();
        int sum = 0;
        for (int n : counts) sum += n == Statement.SUCCESS_NO_INFO ? 0 : n;
        check(rewrite ? counts.length == 500 : sum == 500, "batch counts " + counts.length + "/" + sum);
      }
      c.commit();
    }
    check(backendString("SELECT count(*) || ':' || sum(id) FROM " + table).equals("500:124750"), "backend rows");
  }

  static void batchWithDuplicate() throws Exception {
    resetTable("compat_java_batchdup", "id int PRIMARY KEY");
    try (Connection c = app()) {
      c.setAutoCommit(false);
      try (PreparedStatement ps = c.prepareStatement("INSERT INTO compat_java_batchdup VALUES (?)")) {
        for (int id : new int[] {1, 2, 1, 3}) {
          ps.setInt(1, id);
          ps.addBatch();
        }
        ps.executeBatch();
        throw new AssertionError("the duplicate in the batch did not fail");
      } catch (SQLException e) {
        SQLException cause = e.getNextException() != null ? e.getNextException() : e;
        check("23505".equals(cause.getSQLState()) || "23505".equals(e.getSQLState()), "SQLState " + cause.getSQLState());
        c.rollback();
      }
      try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT 1")) {
        check(rs.next(), "usable after failed batch");
      }
    }
    check(backendString("SELECT count(*) FROM compat_java_batchdup").equals("0"), "backend kept rows of a failed batch");
  }

  static void copyInOut() throws Exception {
    resetTable("compat_java_copy", "id int, name text");
    StringBuilder in = new StringBuilder();
    for (int i = 0; i < 1000; i++) in.append(i).append('\t').append(i % 10 == 0 ? "\\N" : "nämé-" + i + " ✓").append('\n');
    byte[] data = in.toString().getBytes(StandardCharsets.UTF_8);
    try (Connection c = app()) {
      CopyManager cm = c.unwrap(PGConnection.class).getCopyAPI();
      long n = cm.copyIn("COPY compat_java_copy (id, name) FROM STDIN", new ByteArrayInputStream(data));
      check(n == 1000, "copyIn count " + n);
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      long m = cm.copyOut("COPY (SELECT id, name FROM compat_java_copy ORDER BY id) TO STDOUT", out);
      check(m == 1000, "copyOut count " + m);
      check(out.toString(StandardCharsets.UTF_8).equals(in.toString()), "copied-out text differs from copied-in text");
    }
    check(backendString("SELECT count(*) || ':' || count(name) || ':' || max(name) FROM compat_java_copy")
        .equals("1000:900:nämé-999 ✓"), "backend rows");
  }

  static void transactions() throws Exception {
    resetTable("compat_java_tx", "id int PRIMARY KEY");
    try (Connection c = app(); Statement s = c.createStatement()) {
      c.setAutoCommit(false);
      s.execute("INSERT INTO compat_java_tx VALUES (1)");
      c.rollback();
      s.execute("INSERT INTO compat_java_tx VALUES (2)");
      Savepoint sp = c.setSavepoint();
      s.execute("INSERT INTO compat_java_tx VALUES (3)");
      try {
        s.execute("INSERT INTO compat_java_tx VALUES (2)");
        throw new AssertionError("duplicate accepted");
      } catch (SQLException e) {
        check("23505".equals(e.getSQLState()), "SQLState " + e.getSQLState());
      }
      c.rollback(sp);
      s.execute("INSERT INTO compat_java_tx VALUES (4)");
      c.commit();
    }
    check(backendString("SELECT string_agg(id::text, ',' ORDER BY id) FROM compat_java_tx").equals("2,4"), "backend rows");
  }

  static void errors() throws Exception {
    resetTable("compat_java_err", "id int PRIMARY KEY");
    try (Connection c = app(); Statement s = c.createStatement()) {
      s.execute("INSERT INTO compat_java_err VALUES (1)");
      expectState(c, "INSERT INTO compat_java_err VALUES (1)", "23505");
      expectState(c, "SELEC 1", "42601");
      expectState(c, "SELECT 1/0", "22012");
      expectState(c, "SELECT * FROM compat_java_missing", "42P01");
      try (ResultSet rs = s.executeQuery("SELECT count(*) FROM compat_java_err")) {
        check(rs.next() && rs.getInt(1) == 1, "usable after errors");
      }
    }
  }

  static void nullsAndUnicode() throws Exception {
    resetTable("compat_java_text", "id int, t text, n int");
    String[] values = {"", "plain", "Ünïcødé", "日本語テキスト", "emoji 🐘🔐", "e\u0301 combining", "q ' \" \\", null};
    try (Connection c = app(Map.of("prepareThreshold", "1"))) {
      try (PreparedStatement ps = c.prepareStatement("INSERT INTO compat_java_text VALUES (?, ?, ?)")) {
        for (int i = 0; i < values.length; i++) {
          ps.setInt(1, i);
          if (values[i] == null) ps.setNull(2, Types.VARCHAR); else ps.setString(2, values[i]);
          ps.setNull(3, Types.INTEGER);
          ps.executeUpdate();
        }
      }
      try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT t, n FROM compat_java_text ORDER BY id")) {
        for (String v : values) {
          check(rs.next(), "row missing");
          String t = rs.getString(1);
          check(v == null ? t == null && rs.wasNull() : v.equals(t), "read back " + t + " for " + v);
          rs.getInt(2);
          check(rs.wasNull(), "NULL int came back non-NULL");
        }
      }
    }
    List<String> want = new ArrayList<>();
    for (String v : values) want.add(v == null ? "NULL" : HexFormat.of().formatHex(v.getBytes(StandardCharsets.UTF_8)));
    String got = backendString("SELECT string_agg(coalesce(encode(convert_to(t, 'UTF8'), 'hex'), 'NULL'), ',' ORDER BY id) FROM compat_java_text");
    check(got.equals(String.join(",", want)), "backend bytes " + got);
  }

  static void largeValues() throws Exception {
    resetTable("compat_java_large", "id int, t text, b bytea");
    String text = "large value ✓ ".repeat(400_000);
    byte[] blob = new byte[4 << 20];
    new Random(7).nextBytes(blob);
    try (Connection c = app()) {
      try (PreparedStatement ps = c.prepareStatement("INSERT INTO compat_java_large VALUES (1, ?, ?)")) {
        ps.setString(1, text);
        ps.setBytes(2, blob);
        ps.executeUpdate();
      }
      try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT t, b FROM compat_java_large")) {
        check(rs.next() && rs.getString(1).equals(text), "large text differs");
        check(java.util.Arrays.equals(rs.getBytes(2), blob), "large bytea differs");
      }
    }
    String md5 = HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(blob));
    check(backendString("SELECT md5(b) FROM compat_java_large").equals(md5), "backend md5 differs");
    check(backendString("SELECT length(t) FROM compat_java_large").equals(String.valueOf(text.length())), "backend length");
  }

  /** setFetchSize inside a transaction: Execute with a row limit, PortalSuspended, more Executes. */
  static void fetchSizeCursor() throws Exception {
    try (Connection c = app()) {
      c.setAutoCommit(false);
      try (PreparedStatement ps = c.prepareStatement("SELECT g FROM generate_series(1, 2500) g")) {
        ps.setFetchSize(100);
        long sum = 0;
        int n = 0;
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) { sum += rs.getInt(1); n++; }
        }
        check(n == 2500 && sum == 2500L * 2501 / 2, "fetched " + n + " rows");
      }
      c.commit();
    }
  }

  static void metadata() throws Exception {
    resetTable("compat_java_meta", "id int PRIMARY KEY, v text");
    try (Connection c = app()) {
      DatabaseMetaData md = c.getMetaData();
      try (ResultSet rs = md.getColumns(null, "public", "compat_java_meta", null)) {
        List<String> cols = new ArrayList<>();
        while (rs.next()) cols.add(rs.getString("COLUMN_NAME") + ":" + rs.getString("TYPE_NAME"));
        check(cols.equals(List.of("id:int4", "v:text")), "columns " + cols);
      }
      try (ResultSet rs = md.getPrimaryKeys(null, "public", "compat_java_meta")) {
        check(rs.next() && rs.getString("COLUMN_NAME").equals("id"), "primary key");
      }
    }
  }

  /** setQueryTimeout: pgjdbc sends a CancelRequest from a timer thread; the statement fails with 57014. */
  static void cancel() throws Exception {
    try (Connection c = app(); Statement s = c.createStatement()) {
      s.setQueryTimeout(1);
      try {
        s.execute("SELECT pg_sleep(30) -- compat_java_cancel");
        throw new AssertionError("pg_sleep(30) was not cancelled");
      } catch (SQLException e) {
        check("57014".equals(e.getSQLState()), "SQLState " + e.getSQLState() + ": " + e.getMessage());
      }
      s.setQueryTimeout(0);
      try (ResultSet rs = s.executeQuery("SELECT 5")) {
        check(rs.next() && rs.getInt(1) == 5, "usable after cancel");
      }
    }
    check(backendString("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%compat_java_cancel' AND pid <> pg_backend_pid()")
        .equals("0"), "the cancelled query still runs on the backend");
  }

  public static void main(String[] args) {
    Map<String, Check> tests = new LinkedHashMap<>();
    tests.put("connect_scram_tls", PgjdbcCompat::connectScramTls);
    tests.put("wrong_password_28P01", PgjdbcCompat::wrongPassword);
    tests.put("prepared_threshold_0", () -> prepared(0));
    tests.put("prepared_threshold_1_binary", () -> prepared(1));
    tests.put("execute_batch", () -> executeBatch(false));
    tests.put("execute_batch_rewritten", () -> executeBatch(true));
    tests.put("batch_duplicate_23505", PgjdbcCompat::batchWithDuplicate);
    tests.put("copy_in_out", PgjdbcCompat::copyInOut);
    tests.put("transactions_savepoints", PgjdbcCompat::transactions);
    tests.put("error_sqlstates", PgjdbcCompat::errors);
    tests.put("nulls_and_unicode", PgjdbcCompat::nullsAndUnicode);
    tests.put("large_values", PgjdbcCompat::largeValues);
    tests.put("fetch_size_cursor", PgjdbcCompat::fetchSizeCursor);
    tests.put("metadata", PgjdbcCompat::metadata);
    tests.put("cancel_query_timeout", PgjdbcCompat::cancel);
    String only = env("COMPAT_ONLY", "");
    int passed = 0;
    int failed = 0;
    for (Map.Entry<String, Check> t : tests.entrySet()) {
      if (!only.isEmpty() && !t.getKey().contains(only)) continue;
      try {
        t.getValue().run();
        passed++;
        System.out.println("PASS " + t.getKey());
      } catch (Throwable e) {
        failed++;
        System.out.println(("FAIL " + t.getKey() + ": " + e).replace('\n', ' '));
        if (!env("COMPAT_VERBOSE", "").isEmpty()) e.printStackTrace(System.out);
      }
    }
    System.out.println("pgjdbc: " + passed + " passed, " + failed + " failed");
    System.exit(failed == 0 ? 0 : 1);
  }
}
