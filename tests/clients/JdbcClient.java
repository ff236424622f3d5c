// pgjdbc against the gateway: java -cp postgresql.jar JdbcClient.java HOST PORT
// DatabaseMetaData (catalogs, schemas, table types, tables, columns, keys, indexes, types,
// functions), a PreparedStatement run past prepareThreshold, fetchSize with autocommit off,
// getMetaData before execute, ResultSetMetaData with table names, isValid. Prints PASS/FAIL lines.
import java.math.BigDecimal;
import java.sql.*;
import java.util.*;

public class JdbcClient {
    static int passed = 0;
    static List<String> failed = new ArrayList<>();

    static void check(String name, boolean ok, Object detail) {
        System.out.println((ok ? "PASS" : "FAIL") + " pgjdbc: " + name + (ok ? "" : ": " + detail));
        if (ok) passed++; else failed.add(name);
    }

    interface Part { void run(Connection c) throws Exception; }

    static void step(String name, Connection c, Part part) {
        try {
            part.run(c);
        } catch (Exception e) {
            check(name, false, e.getClass().getSimpleName() + ": " + e.getMessage());
        }
    }

    static List<String> column(ResultSet rs, String label) throws SQLException {
        List<String> values = new ArrayList<>();
        try (rs) { while (rs.next()) values.add(rs.getString(label)); }
        return values;
    }

    static void metadata(Connection c) throws Exception {
        DatabaseMetaData md = c.getMetaData();
        check("getCatalogs", column(md.getCatalogs(), "TABLE_CAT").equals(List.of("lake")),
              column(md.getCatalogs(), "TABLE_CAT"));
        List<String> schemas = column(md.getSchemas(), "TABLE_SCHEM");
        check("getSchemas", schemas.containsAll(List.of("sales", "web")) && !schemas.contains("raw"), schemas);
        List<String> types = column(md.getTableTypes(), "TABLE_TYPE");
        check("getTableTypes", types.contains("TABLE") && types.contains("VIEW"), types);
        List<String> tables = column(md.getTables(null, "sales", "%", new String[] {"TABLE"}), "TABLE_NAME");
        check("getTables", tables.equals(List.of("customers", "orders")), tables);
        List<String> remarks = column(md.getTables(null, "sales", "orders", null), "REMARKS");
        check("getTables remarks", remarks.equals(List.of("Customer orders (curated zone)")), remarks);
        List<String> columns = column(md.getColumns(null, "sales", "orders", "%"), "COLUMN_NAME");
        check("getColumns follows policy", columns.equals(List.of("order_id", "customer_id", "order_ts",
              "amount", "currency", "status", "region", "order_date")), columns);
        try (ResultSet rs = md.getColumns(null, "sales", "orders", "amount")) {
            rs.next();
            check("getColumns numeric(12,2)", rs.getInt("DATA_TYPE") == Types.NUMERIC
                  && rs.getInt("COLUMN_SIZE") == 12 && rs.getInt("DECIMAL_DIGITS") == 2
                  && "Order total in the order currency".equals(rs.getString("REMARKS")),
                  rs.getInt("COLUMN_SIZE") + "," + rs.getInt("DECIMAL_DIGITS") + "," + rs.getString("REMARKS"));
        }
        check("getPrimaryKeys", column(md.getPrimaryKeys(null, "sales", "orders"), "COLUMN_NAME").isEmpty(), "");
        check("getImportedKeys", column(md.getImportedKeys(null, "sales", "orders"), "FKCOLUMN_NAME").isEmpty(), "");
        check("getIndexInfo", column(md.getIndexInfo(null, "sales", "orders", false, true), "INDEX_NAME").isEmpty(), "");
        List<String> typeNames = column(md.getTypeInfo(), "TYPE_NAME");
        check("getTypeInfo", typeNames.containsAll(List.of("int8", "numeric", "text", "timestamptz")), typeNames.size());
        column(md.getFunctions(null, "pg_catalog", "lower"), "FUNCTION_NAME");
        check("getFunctions runs", true, "");
        List<String> words = Arrays.asList(md.getSQLKeywords().split(","));
        check("getSQLKeywords", !words.isEmpty(), words.size());
    }

    static void prepared(Connection c) throws Exception {
        List<Long> counts = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT count(*), sum(amount) FROM sales.orders WHERE customer_id = ?")) {
            for (long id = 1; id <= 8; id++) {   // prepareThreshold is 5: the last runs are named and binary
                ps.setLong(1, id);
                try (ResultSet rs = ps.executeQuery()) { rs.next(); counts.add(rs.getLong(1)); }
            }
        }
        List<Long> direct = new ArrayList<>();
        try (Statement s = c.createStatement()) {
            for (long id = 1; id <= 8; id++) {
                try (ResultSet rs = s.executeQuery("SELECT count(*) FROM sales.orders WHERE customer_id = " + id)) {
                    rs.next(); direct.add(rs.getLong(1));
                }
            }
        }
        check("PreparedStatement past prepareThreshold", counts.equals(direct), counts + " vs " + direct);
        try (PreparedStatement ps = c.prepareStatement("SELECT amount, order_ts FROM sales.orders WHERE order_id = ?")) {
            for (int i = 0; i < 7; i++) {
                ps.setLong(1, 1);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    BigDecimal amount = rs.getBigDecimal(1);
                    if (i == 6) check("binary numeric and timestamptz", amount.scale() == 2 && rs.getTimestamp(2) != null, amount);
                }
            }
        }
    }

    static void fetchSize(Connection c) throws Exception {
        c.setAutoCommit(false);
        List<Long> ids = new ArrayList<>();
        try (Statement s = c.createStatement()) {
            s.setFetchSize(4);
            try (ResultSet rs = s.executeQuery("SELECT order_id FROM sales.orders ORDER BY order_id LIMIT 10")) {
                while (rs.next()) ids.add(rs.getLong(1));
            }
        }
        c.commit();
        c.setAutoCommit(true);
        check("fetchSize with autocommit off", ids.equals(List.of(1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L, 9L, 10L)), ids);
    }

    static void resultMetadata(Connection c) throws Exception {
        try (PreparedStatement ps = c.prepareStatement("SELECT order_id, amount, status FROM sales.orders WHERE order_id = ?")) {
            ResultSetMetaData before = ps.getMetaData();
            check("getMetaData before execute", before != null && before.getColumnCount() == 3
                  && before.getColumnType(2) == Types.NUMERIC, before == null ? null : before.getColumnCount());
            ParameterMetaData params = ps.getParameterMetaData();
            check("getParameterMetaData", params.getParameterCount() == 1 && params.getParameterType(1) == Types.BIGINT,
                  params.getParameterCount() + " " + params.getParameterTypeName(1));
            ps.setLong(1, 2);
            try (ResultSet rs = ps.executeQuery()) {
                ResultSetMetaData md = rs.getMetaData();
                // pgjdbc reads these from RowDescription's table OID, looked up in pg_class.
                org.postgresql.PGResultSetMetaData pg = md.unwrap(org.postgresql.PGResultSetMetaData.class);
                check("ResultSetMetaData table name", "orders".equals(md.getTableName(1))
                      && "sales".equals(pg.getBaseSchemaName(1)) && "order_id".equals(pg.getBaseColumnName(1)),
                      pg.getBaseSchemaName(1) + "." + md.getTableName(1) + "." + pg.getBaseColumnName(1));
                check("ResultSetMetaData precision and scale", md.getPrecision(2) == 12 && md.getScale(2) == 2,
                      md.getPrecision(2) + "," + md.getScale(2));
                check("ResultSetMetaData nullability known", md.isNullable(1) != ResultSetMetaData.columnNullableUnknown,
                      md.isNullable(1));
            }
        }
        check("isValid", c.isValid(5), "");
    }

    static void errors(Connection c) throws Exception {
        try (Statement s = c.createStatement()) {
            s.executeQuery("SELECT card_number FROM sales.orders");
            check("a hidden column is refused", false, "no error");
        } catch (SQLException e) {
            check("a hidden column reads as missing", "42703".equals(e.getSQLState()), e.getSQLState());
        }
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://" + args[0] + ":" + args[1] + "/lake?ApplicationName=pgjdbc";
        try (Connection c = DriverManager.getConnection(url, "analyst", "analyst")) {
            step("metadata", c, JdbcClient::metadata);
            step("prepared", c, JdbcClient::prepared);
            step("fetchSize", c, JdbcClient::fetchSize);
            step("resultMetadata", c, JdbcClient::resultMetadata);
            step("errors", c, JdbcClient::errors);
        }
        System.out.println("pgjdbc: " + passed + " passed, " + failed.size() + " failed");
        System.exit(failed.isEmpty() ? 0 : 1);
    }
}
