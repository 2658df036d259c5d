// TypeORM through the proxy (issue 11): synchronize() of a customer (encrypted name, email unique,
// ssn unique) and an order with a foreign key, then what a second start's synchronize would run
// (the schema builder's log: nothing), CRUD (save, lookups on the searchable and deterministic
// columns, update, delete, a relation join), and the schema TypeORM reads back. Each step runs
// through the proxy and straight against the oracle database; then what the backend stores.
import { need, endpoint, check, storedCheck, Suite, lives, CANARY } from './common.mjs';
need('reflect-metadata');
const { DataSource, EntitySchema, In } = need('typeorm');

const Customer = new EntitySchema({
  name: 'Customer', tableName: 'to_customer',
  columns: {
    id: { type: Number, primary: true, generated: true },
    name: { type: 'varchar', length: 100 },
    email: { type: 'varchar', length: 254, unique: true },
    ssn: { type: 'varchar', length: 11, unique: true },
  },
  relations: { orders: { type: 'one-to-many', target: 'Order', inverseSide: 'customer' } },
});
const Order = new EntitySchema({
  name: 'Order', tableName: 'to_order',
  columns: { id: { type: Number, primary: true, generated: true }, total: { type: 'int' } },
  relations: { customer: { type: 'many-to-one', target: 'Customer', joinColumn: { name: 'customer_id' }, inverseSide: 'orders' } },
});

function source(target) {
  const e = endpoint(target);
  return new DataSource({ type: 'postgres', host: e.host, port: e.port, username: e.user, password: e.password, database: e.database, ssl: e.ssl, entities: [Customer, Order], logging: Boolean(process.env.COMPAT_VERBOSE) });
}

/** What synchronize() would run now (the schema builder's log), as SQL texts. */
async function pending(ds) {
  return (await ds.driver.createSchemaBuilder().log()).upQueries.map((q) => q.query);
}

async function life(target) {
  const seen = {};
  let ds = source(target);
  await ds.initialize();
  try {
    await ds.synchronize();
    seen.firstPending = await pending(ds);
    const customers = ds.getRepository('Customer');
    const orders = ds.getRepository('Order');
    const people = await customers.save([0, 1, 2].map((i) => ({ name: `${CANARY} to ${i}`, email: `${CANARY.toLowerCase()}.to${i}@example.org`, ssn: `700-00-000${i}` })));
    await orders.save(people.map((p, i) => ({ total: 10 * (i + 1), customer: p })));
    const crud = [];
    crud.push((await customers.findOneBy({ email: `${CANARY.toLowerCase()}.to1@example.org` })).name);
    crud.push((await customers.findBy({ ssn: In(['700-00-0002', 'nobody']) })).map((c) => c.name));
    await customers.update({ ssn: '700-00-0000' }, { name: `${CANARY} to renamed` });
    await orders.delete({ customer: { id: people[2].id } });
    await customers.delete({ ssn: '700-00-0002' });
    crud.push((await orders.find({ relations: { customer: true }, order: { total: 'ASC' } })).map((o) => [o.total, o.customer.name, o.customer.email]));
    seen.crud = crud;
  } finally {
    await ds.destroy();
  }
  // A second start of the application: synchronize must find nothing to change.
  ds = source(target);
  await ds.initialize();
  try {
    seen.secondPending = await pending(ds);
    await ds.synchronize();
    const table = await ds.createQueryRunner().getTable('to_customer');
    seen.table = table.columns.map((c) => [c.name, c.type, c.length, c.isNullable, c.isUnique, c.isPrimary]);
    seen.uniques = table.uniques.map((u) => u.columnNames).sort();
    seen.rows = (await ds.getRepository('Customer').find({ order: { id: 'ASC' } })).map((c) => [c.name, c.email, c.ssn]);
  } finally {
    await ds.destroy();
  }
  return seen;
}

async function main() {
  const suite = new Suite('typeorm');
  const step = lives(life);
  for (const s of ['firstPending', 'crud', 'secondPending', 'table', 'uniques', 'rows']) await suite.same(s, step(s));
  await suite.run('second_start_synchronize_is_a_no_op', async () => {
    const q = await step('secondPending')('CLARUS');
    check(q.length === 0, `synchronize would run: ${q.join('; ')}`);
  });
  await suite.run('backend_stores_ciphertext', () => storedCheck('to_customer'));
  suite.finish();
}

main();
