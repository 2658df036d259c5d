package dev.clarus.compat;

import dev.clarus.compat.Entities.Customer;
import dev.clarus.compat.Entities.CustomerOrder;
import dev.clarus.compat.Entities.CustomerV2;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.TreeMap;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.hibernate.SessionFactory;
import org.hibernate.cfg.Configuration;

/**
 * Hibernate ORM 7 through the Clarus proxy (issue 11). Each step runs against CLARUS_*
 * (the proxy, whose policy encrypts hb_customer) and ORACLE_* (a plain database,
 * directly); what the application sees must be equal. Then BACKEND_* (the proxy's database,
 * directly) must hold bytea and none of the values written. Prints `PASS hibernate.x` / `FAIL …`.
 */
public final class HibernateCompat {
  static final String CANARY = "OrmCanary";
  static final boolean DIRECT = "direct".equals(System.getenv("COMPAT_TARGET"));
  interface Step { Object run(String target) throws Exception; }
  interface Check { void run() throws Exception; }

  private static final Object[] want = new Object[1];
  private static int passed;
  private static int failed;

  private HibernateCompat() {}

  static String env(String name, String dflt) {
    String v = System.getenv(name);
    return v == null || v.isEmpty() ? dflt : v;
  }

  static String url(String prefix) {
    String ca = env(prefix + "_SSLROOTCERT", "");
    return "jdbc:postgresql://" + env(prefix + "_HOST", "127.0.0.1") + ":" + env(prefix + "_PORT", "5432") + "/"
        + env(prefix + "_DATABASE", "postgres") + "?sslmode=" + env(prefix + "_SSLMODE", "disable")
        + (ca.isEmpty() ? "" : "&sslrootcert=" + ca) + "&ApplicationName=clarus-compat-hibernate";
  }

  static Connection jdbc(String prefix) throws SQLException {
    Properties p = new Properties();
    p.setProperty("user", env(prefix + "_USER", "postgres"));
    p.setProperty("password", env(prefix + "_PASSWORD", ""));
    return DriverManager.getConnection(url(prefix), p);
  }

  static SessionFactory factory(String target, String auto, Class<?>... classes) {
    Configuration cfg = new Configuration();
    for (Class<?> c : classes) cfg.addAnnotatedClass(c);
    cfg.setProperty("hibernate.connection.url", url(target));
    cfg.setProperty("hibernate.connection.username", env(target + "_USER", "postgres"));
    cfg.setProperty("hibernate.connection.password", env(target + "_PASSWORD", ""));
    cfg.setProperty("hibernate.connection.pool_size", "2");
    cfg.setProperty("hibernate.hbm2ddl.auto", auto);
    return cfg.buildSessionFactory();
  }

  static void check(boolean cond, String what) {
    if (!cond) throw new AssertionError(what);
  }

  static void run(String name, Check c) {
    try {
      c.run();
      passed++;
      System.out.println("PASS hibernate." + name);
    } catch (Throwable e) {
      failed++;
      String msg = String.valueOf(e.getMessage()).lines().findFirst().orElse("");
      Throwable root = e;
      while (root.getCause() != null) root = root.getCause();
      String cause = root == e ? "" : " (cause: " + root.getClass().getSimpleName() + ": " + String.valueOf(root.getMessage()).lines().findFirst().orElse("") + ")";
      System.out.println("FAIL hibernate." + name + ": " + e.getClass().getSimpleName() + ": " + msg + cause);
      if (System.getenv("COMPAT_VERBOSE") != null) e.printStackTrace(System.out);
    }
    System.out.flush();
  }

  /** The step through the proxy and directly against the oracle: the application sees the same. */
  static void same(String name, Step step) {
    run(name, () -> {
      Object got;
      try {
        got = step.run("CLARUS");
      } finally {
        // The oracle takes the same step even when the proxy's failed, so later steps stay comparable.
        want[0] = null;
        try { want[0] = step.run("ORACLE"); } catch (Exception e) { want[0] = e; }
      }
      check(!(want[0] instanceof Exception), "directly: " + want[0]);
      check(Objects.equals(got, want[0]), "through the proxy " + got + "\n  directly " + want[0]);
    });
  }

  // ---- Hibernate: hbm2ddl create / validate / update, CRUD, equality on encrypted columns, paging.

  static Object create(String target) {
    try (SessionFactory sf = factory(target, "create", Customer.class, CustomerOrder.class)) {
      return "created";
    }
  }

  static Object validate(String target) {
    try (SessionFactory sf = factory(target, "validate", Customer.class, CustomerOrder.class)) {
      return "valid";
    }
  }

  static Object crud(String target) {
    Map<String, Object> seen = new TreeMap<>();
    try (SessionFactory sf = factory(target, "validate", Customer.class, CustomerOrder.class)) {
      sf.inTransaction(s -> {
        for (int i = 0; i < 6; i++) {
          Customer c = new Customer(CANARY + " Hib " + i, CANARY.toLowerCase() + ".hib" + i + "@example.org", String.format("800-00-%04d", i));
          s.persist(c);
          if (i < 2) s.persist(new CustomerOrder(c, 10 * (i + 1)));
        }
      });
      sf.inSession(s -> {
        Customer byEmail = s.createSelectionQuery("from Customer where email = :e", Customer.class)
            .setParameter("e", CANARY.toLowerCase() + ".hib3@example.org").getSingleResult();
        seen.put("by email", byEmail.name);
        seen.put("by id", s.find(Customer.class, byEmail.id).ssn);
        seen.put("by ssn in", s.createSelectionQuery("select name from Customer where ssn in :l order by id", String.class)
            .setParameter("l", List.of("800-00-0001", "800-00-0004")).getResultList());
        seen.put("page by id", s.createSelectionQuery("select email from Customer order by id", String.class)
            .setFirstResult(2).setMaxResults(3).getResultList());
        seen.put("page by name", s.createSelectionQuery("select ssn from Customer order by name desc", String.class)
            .setFirstResult(1).setMaxResults(2).getResultList());
        seen.put("count", s.createSelectionQuery("select count(*) from Customer", Long.class).getSingleResult());
        seen.put("join", s.createSelectionQuery("select o.customer.name, o.total from CustomerOrder o order by o.total", Object[].class)
            .getResultList().stream().map(r -> r[0] + "=" + r[1]).toList());
      });
      sf.inTransaction(s -> {
        Customer c = s.createSelectionQuery("from Customer where ssn = :s", Customer.class).setParameter("s", "800-00-0005").getSingleResult();
        c.name = CANARY + " Hib renamed";
        s.remove(s.createSelectionQuery("from Customer where ssn = :s", Customer.class).setParameter("s", "800-00-0004").getSingleResult());
      });
      sf.inSession(s -> seen.put("after update/delete", s.createSelectionQuery("select name from Customer order by id", String.class).getResultList()));
    }
    return seen;
  }

  static Object update(String target) {
    Map<String, Object> seen = new TreeMap<>();
    try (SessionFactory sf = factory(target, "update", CustomerV2.class)) {
      sf.inTransaction(s -> s.createMutationQuery("update CustomerV2 set nickname = 'zero' where ssn = :s").setParameter("s", "800-00-0000").executeUpdate());
      sf.inSession(s -> seen.put("nicknames", s.createSelectionQuery("select nickname from CustomerV2 order by id", String.class).getResultList()));
    }
    try (SessionFactory sf = factory(target, "validate", CustomerV2.class)) {
      seen.put("validate", "valid");
    }
    return seen;
  }

  /** hbm2ddl update as a script after the migration: with no model change it is empty. */
  static Object updateScript(String target) throws Exception {
    Path out = Files.createTempFile("clarus-hibernate-update", ".sql");
    try {
      Configuration cfg = new Configuration().addAnnotatedClass(CustomerV2.class);
      cfg.setProperty("hibernate.connection.url", url(target));
      cfg.setProperty("hibernate.connection.username", env(target + "_USER", "postgres"));
      cfg.setProperty("hibernate.connection.password", env(target + "_PASSWORD", ""));
      cfg.setProperty("hibernate.hbm2ddl.auto", "none");
      cfg.setProperty("hibernate.hbm2ddl.scripts.action", "update");
      cfg.setProperty("jakarta.persistence.schema-generation.scripts.create-target", out.toString());
      cfg.buildSessionFactory().close();
      return Files.readAllLines(out);
    } finally {
      Files.deleteIfExists(out);
    }
  }

  // ---- What the proxy's database stores.

  static void stored(String table) throws SQLException {
    if (DIRECT) return;
    Map<String, String> types = new TreeMap<>();
    try (Connection c = jdbc("BACKEND"); Statement s = c.createStatement()) {
      try (ResultSet r = s.executeQuery("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = '" + table + "'")) {
        while (r.next()) types.put(r.getString(1), r.getString(2));
      }
      for (String col : List.of("name", "email", "ssn")) check("bytea".equals(types.get(col)), table + "." + col + " is stored as " + types.get(col));
      check(types.containsKey("email__bidx"), table + " has no blind index of email");
      int rows = 0;
      try (ResultSet r = s.executeQuery("SELECT t::text FROM " + table + " t")) {
        while (r.next()) {
          rows++;
          String t = r.getString(1).toLowerCase();
          check(!t.contains(CANARY.toLowerCase()) && !t.contains(hex(CANARY)), "plaintext stored in " + table + ": " + t);
        }
      }
      check(rows > 0, table + " holds no rows");
    }
  }

  static String hex(String s) {
    StringBuilder b = new StringBuilder();
    for (byte x : s.getBytes(java.nio.charset.StandardCharsets.UTF_8)) b.append(String.format("%02x", x));
    return b.toString();
  }

  public static void main(String[] args) {
    Logger root = Logger.getLogger("");
    root.setLevel(Level.SEVERE);
    for (var h : root.getHandlers()) h.setLevel(Level.SEVERE);
    same("hbm2ddl_create", HibernateCompat::create);
    same("hbm2ddl_validate", HibernateCompat::validate);
    same("crud_equality_paging", HibernateCompat::crud);
    same("hbm2ddl_update_add_column", HibernateCompat::update);
    same("hbm2ddl_update_again_is_empty", HibernateCompat::updateScript);
    run("backend_stores_ciphertext", () -> { stored("hb_customer"); });
    System.out.println("hibernate: " + passed + " passed, " + failed + " failed");
    System.exit(failed == 0 ? 0 : 1);
  }
}
