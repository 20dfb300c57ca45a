// A JDBC client of churnml, as a BI tool or a call-center application would be:
// pgjdbc, a PreparedStatement with bind parameters, and for every column the getter
// its JDBC type calls for. Prints one JSON object per line (metadata and cells),
// which tests/clients/test_jdbc.py compares with the same queries run through psycopg.
//
//   java -cp .:postgresql.jar CallCenterClient JDBC_URL USER AREA_CODE PHONE MESSAGE
//
// The password comes from the environment (CHURNML_JDBC_PASSWORD), never from argv.
// Exit status 3 when a column of a BI-facing query is only readable as
// org.postgresql.util.PGobject (the raw assess_customer's jsonb column is reported,
// not failed: assess_customer_text is its BI form).

import java.math.BigDecimal;
import java.sql.Array;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.sql.Types;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

public final class CallCenterClient {
    private static final String PGOBJECT = "org.postgresql.util.PGobject";
    private static final List<String> problems = new ArrayList<>();

    private CallCenterClient() {
    }

    public static void main(String[] args) throws SQLException {
        if (args.length != 5) {
            System.err.println("usage: CallCenterClient JDBC_URL USER AREA_CODE PHONE MESSAGE");
            System.exit(2);
        }
        String password = System.getenv("CHURNML_JDBC_PASSWORD");
        if (password == null) {
            System.err.println("CHURNML_JDBC_PASSWORD is not set");
            System.exit(2);
        }
        Properties props = new Properties();
        props.setProperty("user", args[1]);
        props.setProperty("password", password);
        props.setProperty("ApplicationName", "churnml-jdbc-test");
        long areaCode = Long.parseLong(args[2]);
        String phone = args[3];
        String message = args[4];

        try (Connection conn = DriverManager.getConnection(args[0], props)) {
            emit(obj("event", str("connected"), "driver", str(conn.getMetaData().getDriverVersion()),
                     "server", str(conn.getMetaData().getDatabaseProductVersion())));

            // (a) the call-center query: every input is a bind parameter, never SQL text; the agent
            // makes the offer, so it is logged
            try (PreparedStatement st = conn.prepareStatement(
                    "SELECT * FROM churnml.assess_customer(?, ?, ?, log_offer => true)")) {
                st.setLong(1, areaCode);
                st.setString(2, phone);
                st.setString(3, message);
                dump("assess", st, false);
            }
            // its BI form: the same answer with plain types only (a read: not logged a second time)
            try (PreparedStatement st = conn.prepareStatement(
                    "SELECT * FROM churnml.assess_customer_text(?, ?, ?)")) {
                st.setLong(1, areaCode);
                st.setString(2, phone);
                st.setString(3, message);
                dump("assess_text", st, true);
            }
            // where assess_customer looks (a text[] column)
            try (PreparedStatement st = conn.prepareStatement(
                    "SELECT customer_table, key_columns, model, top_reasons FROM churnml.call_center_config")) {
                dump("config", st, true);
            }
            // (c) bulk scoring: the source query and key column are parameters too
            try (PreparedStatement st = conn.prepareStatement(
                    "SELECT key, probability FROM churnml.score(?, key_column => ?) ORDER BY key")) {
                st.setString(1, "SELECT *, area_code || '/' || phone AS id FROM customers");
                st.setString(2, "id");
                dump("score", st, true);
            }
            // (d) the dashboard view
            try (PreparedStatement st = conn.prepareStatement(
                    "SELECT * FROM churnml.customer_risk ORDER BY customer_key")) {
                dump("risk", st, true);
            }
        }
        for (String p : problems) {
            emit(obj("event", str("problem"), "detail", str(p)));
        }
        emit(obj("event", str("done"), "problems", Integer.toString(problems.size())));
        System.exit(problems.isEmpty() ? 0 : 3);
    }

    private static void dump(String query, PreparedStatement st, boolean biFacing) throws SQLException {
        try (ResultSet rs = st.executeQuery()) {
            ResultSetMetaData md = rs.getMetaData();
            int n = md.getColumnCount();
            String[] objectClass = new String[n + 1];
            int row = 0;
            while (rs.next()) {
                for (int i = 1; i <= n; i++) {
                    if (objectClass[i] == null) {  // the class of the first non-NULL value
                        Object o = rs.getObject(i);
                        objectClass[i] = o == null ? null : o.getClass().getName();
                    }
                    String[] cell = read(rs, i, md.getColumnType(i));
                    emit(obj("query", str(query), "row", Integer.toString(row), "column", str(md.getColumnLabel(i)),
                             "getter", str(cell[0]), "value", cell[1]));
                }
                row++;
            }
            for (int i = 1; i <= n; i++) {
                String className = md.getColumnClassName(i);
                boolean pgobject = PGOBJECT.equals(className) || PGOBJECT.equals(objectClass[i]);
                emit(obj("query", str(query), "meta", "true", "column", str(md.getColumnLabel(i)),
                         "type", Integer.toString(md.getColumnType(i)), "typeName", str(md.getColumnTypeName(i)),
                         "className", str(className), "objectClass", str(objectClass[i]),
                         "pgobject", Boolean.toString(pgobject)));
                if (pgobject && biFacing) {
                    problems.add(query + "." + md.getColumnLabel(i) + " is only readable as " + PGOBJECT);
                }
            }
            emit(obj("query", str(query), "rows", Integer.toString(row)));
        }
    }

    /** The getter a BI tool uses for this JDBC type, and the value it returns as JSON. */
    private static String[] read(ResultSet rs, int i, int type) throws SQLException {
        switch (type) {
            case Types.DOUBLE, Types.FLOAT, Types.REAL -> {
                double v = rs.getDouble(i);
                return new String[] {"getDouble", rs.wasNull() ? "null" : num(v)};
            }
            case Types.BIGINT, Types.INTEGER, Types.SMALLINT, Types.TINYINT -> {
                long v = rs.getLong(i);
                return new String[] {"getLong", rs.wasNull() ? "null" : Long.toString(v)};
            }
            case Types.NUMERIC, Types.DECIMAL -> {
                BigDecimal v = rs.getBigDecimal(i);
                return new String[] {"getBigDecimal", v == null ? "null" : str(v.toPlainString())};
            }
            case Types.BIT, Types.BOOLEAN -> {
                boolean v = rs.getBoolean(i);
                return new String[] {"getBoolean", rs.wasNull() ? "null" : Boolean.toString(v)};
            }
            case Types.CHAR, Types.VARCHAR, Types.LONGVARCHAR, Types.NCHAR, Types.NVARCHAR -> {
                return new String[] {"getString", str(rs.getString(i))};
            }
            case Types.TIMESTAMP, Types.TIMESTAMP_WITH_TIMEZONE -> {
                Timestamp v = rs.getTimestamp(i);
                return new String[] {"getTimestamp", v == null ? "null" : str(v.toInstant().toString())};
            }
            case Types.ARRAY -> {
                Array v = rs.getArray(i);
                if (v == null) {
                    return new String[] {"getArray", "null"};
                }
                Object[] items = (Object[]) v.getArray();
                StringBuilder out = new StringBuilder("[");
                for (int k = 0; k < items.length; k++) {
                    out.append(k == 0 ? "" : ",").append(items[k] == null ? "null" : str(items[k].toString()));
                }
                return new String[] {"getArray", out.append(']').toString()};
            }
            default -> {
                // what a generic tool falls back to; getString still gives the text form
                return new String[] {"getString(other)", str(rs.getString(i))};
            }
        }
    }

    private static String num(double v) {
        return Double.isFinite(v) ? Double.toString(v) : str(Double.toString(v));
    }

    private static String str(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder out = new StringBuilder("\"");
        for (int k = 0; k < s.length(); k++) {
            char c = s.charAt(k);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        return out.append('"').toString();
    }

    /** A JSON object from alternating keys and already-encoded JSON values. */
    private static String obj(String... kv) {
        StringBuilder out = new StringBuilder("{");
        for (int k = 0; k < kv.length; k += 2) {
            out.append(k == 0 ? "" : ",").append(str(kv[k])).append(':').append(kv[k + 1]);
        }
        return out.append('}').toString();
    }

    private static void emit(String line) {
        System.out.println(line);
    }
}
