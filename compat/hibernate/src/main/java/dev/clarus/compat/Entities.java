package dev.clarus.compat;

import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.FetchType;
import jakarta.persistence.GeneratedValue;
import jakarta.persistence.Id;
import jakarta.persistence.JoinColumn;
import jakarta.persistence.ManyToOne;
import jakarta.persistence.Table;

/**
 * The suite's model: a customer whose name, email and ssn the proxy's policy encrypts (table
 * hb_customer, see compat/lib/orm-target.ts) and an unprotected order with a foreign key to it.
 * CustomerV2 is the same table one release later (a nickname column), for hbm2ddl update.
 */
final class Entities {
  private Entities() {}

  @Entity(name = "Customer")
  @Table(name = "hb_customer")
  public static class Customer {
    @Id @GeneratedValue public Long id;
    @Column(nullable = false, length = 100) public String name;
    @Column(unique = true, length = 200) public String email;
    @Column(unique = true, length = 11) public String ssn;

    public Customer() {}
    Customer(String name, String email, String ssn) { this.name = name; this.email = email; this.ssn = ssn; }
  }

  @Entity(name = "CustomerOrder")
  @Table(name = "hb_order")
  public static class CustomerOrder {
    @Id @GeneratedValue public Long id;
    public int total;
    @ManyToOne(fetch = FetchType.LAZY, optional = false) @JoinColumn(name = "customer_id") public Customer customer;

    public CustomerOrder() {}
    CustomerOrder(Customer customer, int total) { this.customer = customer; this.total = total; }
  }

  @Entity(name = "CustomerV2")
  @Table(name = "hb_customer")
  public static class CustomerV2 {
    @Id @GeneratedValue public Long id;
    @Column(nullable = false, length = 100) public String name;
    @Column(unique = true, length = 200) public String email;
    @Column(unique = true, length = 11) public String ssn;
    @Column(length = 40) public String nickname;

    public CustomerV2() {}
  }
}
