// node-postgres (pg) against the gateway: parameterised, named and rowMode queries, a query
// without parameters (simple protocol), types parsed from RowDescription OIDs, BEGIN/COMMIT.
// Usage: node node_client.js HOST PORT   (pg is found through NODE_PATH)
const { Client } = require('pg');

let passed = 0;
const failed = [];
function check(name, ok, detail) {
  console.log(`${ok ? 'PASS' : 'FAIL'} node-postgres: ${name}${ok ? '' : ': ' + JSON.stringify(detail)}`);
  if (ok) passed++; else failed.push(name);
}

async function session(client) {
  const plain = await client.query('SELECT order_id, amount, order_ts, order_date FROM sales.orders ORDER BY order_id LIMIT 3');
  const first = plain.rows[0];
  check('simple query', plain.rows.map((r) => r.order_id).join() === '1,2,3', plain.rows);
  check('types from RowDescription OIDs', typeof first.amount === 'string' && first.order_ts instanceof Date
        && first.order_date instanceof Date, first);
  check('int8 arrives as a string', first.order_id === '1', first.order_id);

  const param = await client.query('SELECT order_id, status FROM sales.orders WHERE order_id = ANY($1) ORDER BY order_id', [[2, 4]]);
  check('parameterised query', param.rows.map((r) => r.order_id).join() === '2,4', param.rows);

  const named = { name: 'count-for-customer', text: 'SELECT count(*)::int AS n FROM sales.orders WHERE customer_id = $1' };
  const a = await client.query({ ...named, values: [1] });
  const b = await client.query({ ...named, values: [2] });
  const direct = await client.query('SELECT count(*)::int AS n FROM sales.orders WHERE customer_id IN (1, 2)');
  check('named statement reused', a.rows[0].n + b.rows[0].n === direct.rows[0].n, [a.rows, b.rows, direct.rows]);

  const arrays = await client.query({ text: 'SELECT region, count(*) AS n FROM sales.orders GROUP BY region ORDER BY region', rowMode: 'array' });
  check('rowMode array', arrays.rows.length === 4 && Array.isArray(arrays.rows[0]) && arrays.rows[0][0] === 'AMER', arrays.rows);
  check('field metadata', arrays.fields.map((f) => f.dataTypeID).join() === '25,20', arrays.fields);

  await client.query('BEGIN');
  const inTx = await client.query('SELECT count(*) AS n FROM sales.customers');
  await client.query('COMMIT');
  check('BEGIN/COMMIT', Number(inTx.rows[0].n) > 0, inTx.rows);

  try {
    await client.query('SELECT phone FROM sales.customers');
    check('a hidden column is refused', false, 'no error');
  } catch (e) {
    check('a hidden column reads as missing', e.code === '42703', e.code);
  }
  const after = await client.query('SELECT count(*) AS n FROM sales.customers');
  check('the connection goes on after an error', Number(after.rows[0].n) > 0, after.rows);
}

(async () => {
  const [host, port] = process.argv.slice(2);
  const client = new Client({ host, port: Number(port), user: 'analyst', password: 'analyst', database: 'lake', application_name: 'node-postgres' });
  try {
    await client.connect();
    await session(client);
  } catch (e) {
    check('session', false, `${e.code || ''} ${e.message}`);
  } finally {
    await client.end().catch(() => {});
  }
  console.log(`node-postgres: ${passed} passed, ${failed.length} failed`);
  process.exit(failed.length ? 1 : 0);
})();
