// Sequelize 6 through the proxy (issue 11): sync() of a customer (encrypted name, email unique,
// ssn unique) and an order with a foreign key, sync({ alter: true }) twice (the second must find
// nothing to change), CRUD (bulkCreate, lookups on the searchable and deterministic columns,
// update, destroy, an include join), findOrCreate (its create is a temporary PL/pgSQL function that
// the proxy rewrites), findCreateFind, and describeTable / showIndex. Each step runs through the
// proxy and straight against the oracle database; then what the backend stores.
import { need, endpoint, check, storedCheck, Suite, lives, CANARY } from './common.mjs';
const { Sequelize, DataTypes, Op } = need('sequelize');

function connect(target) {
  const e = endpoint(target);
  return new Sequelize(e.database, e.user, e.password, {
    host: e.host, port: e.port, dialect: 'postgres', logging: process.env.COMPAT_VERBOSE ? (s) => console.log(`[${target}] ${s}`) : false,
    dialectOptions: e.ssl ? { ssl: e.ssl } : {},
  });
}

function models(sequelize) {
  const Customer = sequelize.define('Customer', {
    name: { type: DataTypes.STRING(100), allowNull: false },
    email: { type: DataTypes.STRING(254), allowNull: false, unique: true },
    ssn: { type: DataTypes.STRING(11), allowNull: false, unique: true },
  }, { tableName: 'sq_customers' });
  const Order = sequelize.define('Order', { total: DataTypes.INTEGER }, { tableName: 'sq_orders' });
  Customer.hasMany(Order, { foreignKey: 'customerId' });
  Order.belongsTo(Customer, { foreignKey: 'customerId' });
  return { Customer, Order };
}

async function life(target) {
  const sequelize = connect(target);
  const seen = {};
  try {
    const { Customer, Order } = models(sequelize);
    await sequelize.sync();
    const qi = sequelize.getQueryInterface();
    const describe = async () => Object.entries(await qi.describeTable('sq_customers')).map(([k, v]) => [k, v.type, v.allowNull, v.primaryKey]);
    seen.describe = await describe();
    const indexes = async () => (await qi.showIndex('sq_customers')).map((i) => [i.name, i.unique, i.primary, i.fields.map((f) => f.attribute)]).sort();
    seen.indexes = await indexes();
    const people = await Customer.bulkCreate([0, 1, 2].map((i) => ({ name: `${CANARY} sq ${i}`, email: `${CANARY.toLowerCase()}.sq${i}@example.org`, ssn: `800-00-000${i}` })), { returning: true });
    await Order.bulkCreate(people.map((p, i) => ({ total: 10 * (i + 1), customerId: p.id })));
    const crud = [];
    crud.push((await Customer.findOne({ where: { email: `${CANARY.toLowerCase()}.sq1@example.org` } })).name);
    crud.push((await Customer.findAll({ where: { ssn: { [Op.in]: ['800-00-0002', 'nobody'] } } })).map((c) => c.name));
    await Customer.update({ name: `${CANARY} sq renamed` }, { where: { ssn: '800-00-0000' } });
    await Order.destroy({ where: { customerId: people[2].id } });
    await Customer.destroy({ where: { ssn: '800-00-0002' } });
    crud.push((await Order.findAll({ include: Customer, order: [['total', 'ASC']] })).map((o) => [o.total, o.Customer.name, o.Customer.email]));
    seen.crud = crud;
    // findOrCreate finds; its create is an INSERT inside a pg_temp PL/pgSQL function (rewritten by
    // the proxy); asked again, it finds the row it made. findCreateFind is a plain INSERT.
    const found = await Customer.findOrCreate({ where: { email: `${CANARY.toLowerCase()}.sq1@example.org` }, defaults: { name: 'x', ssn: '800-00-0009' } });
    const create = await Customer.findOrCreate({ where: { email: `${CANARY.toLowerCase()}.sq5@example.org` }, defaults: { name: `${CANARY} sq 5`, ssn: '800-00-0005' } })
      .then((r) => r, (e) => [{ name: String(e.message) }, String(e.message)]);
    const refound = await Customer.findOrCreate({ where: { ssn: '800-00-0005' }, defaults: { name: 'z', email: 'z@example.org' } });
    const made = await Customer.findCreateFind({ where: { email: `${CANARY.toLowerCase()}.sq4@example.org` }, defaults: { name: `${CANARY} sq 4`, ssn: '800-00-0004' } });
    const again = await sequelize.transaction((transaction) => Customer.findCreateFind({ where: { email: `${CANARY.toLowerCase()}.sq4@example.org` }, defaults: { name: 'y', ssn: '800-00-0008' }, transaction }));
    seen.findOrCreate = [found[0].name, found[1], create[0].name, create[0].email, create[0].ssn, create[1], refound[0].name, refound[1], refound[0].id === create[0].id,
      made[0].name, made[1], again[0].name, again[1]];
    seen.findOrCreateCreates = create[1];
    await sequelize.sync({ alter: true });
    await sequelize.sync({ alter: true });
    // sync({ alter: true }) adds `UNIQUE (email)` again at each run (Sequelize does so against
    // PostgreSQL too); PostgreSQL names the copies after the stored column (…_email__bidx_key1):
    // compared without the names.
    seen.afterAlter = [await describe(), (await indexes()).map(([, unique, primary, fields]) => [unique, primary, fields])];
  } finally {
    await sequelize.close();
  }
  return seen;
}

async function main() {
  const suite = new Suite('sequelize');
  const step = lives(life);
  for (const s of ['describe', 'indexes', 'crud', 'findOrCreate', 'afterAlter']) await suite.same(s, step(s));
  await suite.run('alter_twice_keeps_the_schema', async () => {
    const d = await step('describe')('CLARUS');
    const [after] = await step('afterAlter')('CLARUS');
    check(JSON.stringify(d) === JSON.stringify(after), `sync({ alter: true }) changed ${JSON.stringify(d)} into ${JSON.stringify(after)}`);
  });
  await suite.run('findOrCreate_creates', async () => {
    const got = await step('findOrCreateCreates')('CLARUS');
    check(got === true, `findOrCreate's create: ${got}`);
  });
  await suite.run('backend_stores_ciphertext', () => storedCheck('sq_customers'));
  suite.finish();
}

main();
