// pgjdbc over TLS: java -cp postgresql.jar TlsLogin.java URL USER PASSWORD
// Prints the current user and whether the connection is encrypted, as the gateway reports it.
import java.sql.*;
import java.util.Properties;

public class TlsLogin {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.setProperty("user", args[1]);
        props.setProperty("password", args[2]);
        try (Connection c = DriverManager.getConnection(args[0], props);
             Statement s = c.createStatement();
             ResultSet r = s.executeQuery("SELECT current_user, count(*) FROM sales.orders")) {
            r.next();
            System.out.println("user=" + r.getString(1) + " orders=" + r.getLong(2));
        } catch (SQLException e) {
            System.out.println("error=" + e.getSQLState() + " " + e.getMessage());
        }
    }
}
