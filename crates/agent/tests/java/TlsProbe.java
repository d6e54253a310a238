// The referee for java_referee.rs: one TLS handshake as ECE's Java makes it. JSSE's default
// trust (javax.net.ssl.trustStore, else java.home's jssecacerts, else cacerts), SNI and the
// HTTPS name check, as a mail client on a JVM. No dependencies: javac compiles it alone.
// Usage: java TlsProbe HOST PORT SNI  ->  "OK <protocol> <cipher>" (exit 0)
//                                     or  "FAIL <exception class>: <message>" (exit 1)
import java.net.InetSocketAddress;
import java.util.List;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.SSLSocketFactory;

public class TlsProbe {
    public static void main(String[] args) {
        if (args.length != 3) {
            System.out.println("FAIL usage: TlsProbe HOST PORT SNI");
            System.exit(2);
        }
        SSLSocketFactory factory = (SSLSocketFactory) SSLSocketFactory.getDefault();
        try (SSLSocket s = (SSLSocket) factory.createSocket()) {
            s.connect(new InetSocketAddress(args[0], Integer.parseInt(args[1])), 10_000);
            s.setSoTimeout(10_000);
            SSLParameters p = s.getSSLParameters();
            // Connected by address, so the name to send and to check is given explicitly.
            p.setServerNames(List.of(new SNIHostName(args[2])));
            p.setEndpointIdentificationAlgorithm("HTTPS");
            s.setSSLParameters(p);
            s.startHandshake();
            System.out.println("OK " + s.getSession().getProtocol() + " " + s.getSession().getCipherSuite());
        } catch (Exception e) {
            // The top exception says what failed; the root cause says why (e.g. which path).
            Throwable root = e;
            while (root.getCause() != null) {
                root = root.getCause();
            }
            String line = e.getClass().getName() + ": " + e.getMessage();
            if (root != e) {
                line += " (root cause " + root.getClass().getName() + ": " + root.getMessage() + ")";
            }
            System.out.println("FAIL " + line);
            System.exit(1);
        }
    }
}
