// node-postgres client for the serve tests: lists tables and columns, runs a query file, and a refused statement.
// Usage: node node_client.js QUERY_FILE DENIED_SQL (connection from PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE)
// Prints one JSON object.
const fs = require("fs");
const { Client } = require("pg");

async function main() {
  const client = new Client();
  await client.connect();
  const out = {};
  out.schemas = (await client.query(
    "select schema_name from information_schema.schemata order by 1")).rows.map((r) => r.schema_name);
  out.tables = (await client.query(
    "select table_name from information_schema.tables where table_schema = $1 order by 1", ["crm"]
  )).rows.map((r) => r.table_name);
  out.columns = (await client.query(
    "select column_name, data_type from information_schema.columns where table_schema = $1 and table_name = $2 " +
    "order by ordinal_position", ["crm", "Accounts"])).rows.map((r) => r.column_name + ":" + r.data_type);
  const seed = await client.query(fs.readFileSync(process.argv[2], "utf8"));
  out.rows = seed.rows.map((r) => Object.values(r)[0]);
  out.bound = (await client.query("select code from glaccounts where code = $1", ["1000"])).rows.map((r) => r.code);
  try {
    await client.query(process.argv[3]);
    out.denied = null;
  } catch (e) {
    out.denied = e.message;
    out.sqlstate = e.code;
  }
  await client.end();
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
