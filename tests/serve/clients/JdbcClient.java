// pgjdbc client for the serve tests: lists schemas, tables and columns, runs a query file, and a refused statement.
// Usage: java -cp postgresql.jar JdbcClient.java URL USER PASSWORD SCHEMA TABLE QUERY_FILE DENIED_SQL
// Prints one JSON object.

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

public class JdbcClient {
    static String quote(String s) {
        if (s == null) return "null";
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\');
            if (c < 0x20) b.append(String.format("\\u%04x", (int) c)); else b.append(c);
        }
        return b.append('"').toString();
    }

    static String list(List<String> items) {
        List<String> quoted = new ArrayList<>();
        for (String s : items) quoted.add(quote(s));
        return "[" + String.join(",", quoted) + "]";
    }

    public static void main(String[] args) throws Exception {
        String url = args[0], user = args[1], password = args[2], schema = args[3], table = args[4];
        String query = Files.readString(Path.of(args[5]));
        try (Connection conn = DriverManager.getConnection(url, user, password)) {
            DatabaseMetaData meta = conn.getMetaData();
            List<String> schemas = new ArrayList<>();
            try (ResultSet rs = meta.getSchemas()) { while (rs.next()) schemas.add(rs.getString("TABLE_SCHEM")); }
            List<String> tables = new ArrayList<>();
            try (ResultSet rs = meta.getTables(null, schema, "%", new String[] {"TABLE"})) {
                while (rs.next()) tables.add(rs.getString("TABLE_NAME"));
            }
            List<String> columns = new ArrayList<>();
            try (ResultSet rs = meta.getColumns(null, schema, table, "%")) {
                while (rs.next()) columns.add(rs.getString("COLUMN_NAME") + ":" + rs.getString("TYPE_NAME"));
            }
            List<String> rows = new ArrayList<>();
            try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery(query)) {
                while (rs.next()) rows.add(rs.getString(1));
            }
            List<String> bound = new ArrayList<>();
            try (PreparedStatement ps = conn.prepareStatement("select code from glaccounts where code = ?")) {
                ps.setString(1, "1000");
                try (ResultSet rs = ps.executeQuery()) { while (rs.next()) bound.add(rs.getString(1)); }
            }
            String denied = "null", state = "null";
            try (Statement st = conn.createStatement()) {
                st.executeQuery(args[6]);
            } catch (SQLException e) {
                denied = quote(e.getMessage());
                state = quote(e.getSQLState());
            }
            System.out.println("{\"schemas\":" + list(schemas) + ",\"tables\":" + list(tables) + ",\"columns\":"
                + list(columns) + ",\"rows\":" + list(rows) + ",\"bound\":" + list(bound) + ",\"denied\":" + denied
                + ",\"sqlstate\":" + state + "}");
        }
    }
}
