package dev.clarus.compat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLWarning;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * pgjdbc into a k-anonymity table (k=5) through the Clarus proxy (issue 13): setAutoCommit(false),
 * single-row INSERTs with typed parameters, commit() (pgjdbc sends COMMIT through the extended
 * protocol: Parse/Bind/Execute/Sync). The rows are held by the proxy and stored as one batch at
 * COMMIT. Run by sidecar/test/integration/anonymize-drivers.test.ts, which checks what the backend
 * stores; this prints one JSON object with what the client saw.
 *
 * Env: CLARUS_* (the proxy), ANON_TABLE, ANON_ROWS (CSV file: ep_id, ep_age, ep_range, dis_id,
 * dis_adm, dis_dis, dis_days, ep_pat, pat_gen, pat_zip, dia_id; ISO dates; no header).
 */
public final class AnonPgjdbc {
  private AnonPgjdbc() {}

  static final String COLUMNS = "ep_id, ep_age, ep_range, dis_id, dis_adm, dis_dis, dis_days, ep_pat, pat_gen, pat_zip, dia_id";

  static void bind(PreparedStatement ps, String[] f) throws SQLException {
    for (int i = 0; i < f.length; i++) {
      if (i == 1 || i == 2 || i == 6) ps.setInt(i + 1, Integer.parseInt(f[i]));
      else if (i == 4 || i == 5) ps.setDate(i + 1, java.sql.Date.valueOf(f[i]));
      else ps.setString(i + 1, f[i]);
    }
  }

  /** The k-anonymity reports (NOTICEs, as SQLWarnings) the connection received, then cleared. */
  static List<String> reports(Connection c) throws SQLException {
    List<String> out = new ArrayList<>();
    for (SQLWarning w = c.getWarnings(); w != null; w = w.getNextWarning()) {
      if (w.getMessage() != null && w.getMessage().contains("k-anonymity of")) out.add(w.getMessage());
    }
    c.clearWarnings();
    return out;
  }

  static String json(Object v) {
    if (v instanceof String s) return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    if (v instanceof List<?> l) {
      List<String> parts = new ArrayList<>();
      for (Object o : l) parts.add(json(o));
      return "[" + String.join(",", parts) + "]";
    }
    return String.valueOf(v);
  }

  public static void main(String[] args) throws Exception {
    String table = System.getenv("ANON_TABLE");
    List<String[]> rows = new ArrayList<>();
    for (String l : Files.readAllLines(Path.of(System.getenv("ANON_ROWS")))) if (!l.isEmpty()) rows.add(l.split(",", -1));
    String insert = "INSERT INTO " + table + " (" + COLUMNS + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    List<Object> counts = new ArrayList<>();
    List<Object> reports = new ArrayList<>();
    StringBuilder out = new StringBuilder("{");
    // prepareThreshold=1: the INSERT and the COMMIT are server-prepared (named) from their first use.
    for (String threshold : new String[] {"5", "1"}) {
      try (Connection c = PgjdbcCompat.app(Map.of("prepareThreshold", threshold))) {
        c.setAutoCommit(false);
        int at = threshold.equals("5") ? 0 : 40;
        // Seven transactions of 5 rows: the COMMIT is sent again and again (pgjdbc prepares it after prepareThreshold uses).
        for (int t = 0; t < 7; t++) {
          try (PreparedStatement ps = c.prepareStatement(insert)) {
            for (int i = 0; i < 5; i++) {
              bind(ps, rows.get(at + t * 5 + i));
              counts.add(ps.executeUpdate());
            }
          }
          c.commit();
          reports.addAll(reports(c));
        }
      }
    }
    out.append("\"counts\":").append(json(counts)).append(",\"reports\":").append(json(reports));
    try (Connection c = PgjdbcCompat.app()) {
      c.setAutoCommit(false);
      // executeBatch: the stand-ins are pipelined in one Sync, then commit().
      try (PreparedStatement ps = c.prepareStatement(insert)) {
        for (int i = 80; i < 86; i++) { bind(ps, rows.get(i)); ps.addBatch(); }
        int[] r = ps.executeBatch();
        out.append(",\"batch\":").append(r.length);
      }
      c.commit();
      out.append(",\"batch_reports\":").append(reports(c).size());
      // Fewer than k rows: commit() fails with 21000 and the transaction is over (PostgreSQL's semantics).
      try (PreparedStatement ps = c.prepareStatement(insert)) {
        for (int i = 90; i < 93; i++) { bind(ps, rows.get(i)); ps.executeUpdate(); }
      }
      try {
        c.commit();
        out.append(",\"few\":\"committed\"");
      } catch (SQLException e) {
        out.append(",\"few\":").append(json(e.getSQLState()));
      }
      // The connection goes on: the next transaction stores its rows.
      try (PreparedStatement ps = c.prepareStatement(insert)) {
        for (int i = 93; i < 98; i++) { bind(ps, rows.get(i)); ps.executeUpdate(); }
      }
      c.commit();
      try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT 1")) {
        rs.next();
        out.append(",\"after\":").append(rs.getInt(1));
      }
      c.commit();
    }
    out.append("}");
    System.out.println(out);
  }
}
