//! TLS through the adapter's client: certificates are made here (rcgen), and the simulator is
//! served over HTTPS by a small rustls front that passes the decrypted bytes on to it.
//!
//! An unknown CA is refused, a private CA given as `ca_cert_pem` is trusted, a certificate for
//! another name is refused even from that CA, and `insecure` accepts anything.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use runbook_tanium::{Auth, ClientConfig, Error, RetryPolicy, TaniumClient};
use runbook_tanium_sim::{RunningSim, SimConfig, Simulator};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

const PACKAGE: &str = "Custom Tagging - Add Tags";

/// A private certificate authority.
struct Authority {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Authority {
    fn new() -> Authority {
        let key = KeyPair::generate().expect("a CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params
            .distinguished_name
            .push(DnType::CommonName, "runbook test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let certificate = params.self_signed(&key).expect("a self-signed CA");
        Authority {
            pem: certificate.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `names` (host names or IP addresses) and its key.
    fn server_certificate(
        &self,
        names: &[&str],
    ) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate().expect("a server key");
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("server parameters");
        params
            .distinguished_name
            .push(DnType::CommonName, "tanium test server");
        let certificate = params
            .signed_by(&key, &self.issuer)
            .expect("a certificate signed by the CA");
        (
            certificate.der().clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
    }
}

/// Serves `certificate` on a loopback port and passes each decrypted connection on to the
/// simulator. A client that refuses the certificate ends its handshake; nothing reaches the
/// simulator then.
async fn https_front(
    sim: SocketAddr,
    certificate: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> SocketAddr {
    let config = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![certificate], key)
        .expect("a server certificate");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut upstream) = TcpStream::connect(sim).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
            });
        }
    });
    address
}

async fn simulator() -> RunningSim {
    Simulator::start(SimConfig::default())
        .await
        .expect("the simulator starts")
}

fn client(
    sim: &RunningSim,
    url: String,
    configure: impl FnOnce(&mut ClientConfig),
) -> TaniumClient {
    let mut config = ClientConfig::new(url, Auth::Token(sim.api_token().into()));
    config.request_timeout = Duration::from_secs(10);
    // A certificate refused once is refused again: no retry, so a failure is quick.
    config.retry = RetryPolicy {
        attempts: 1,
        ..RetryPolicy::default()
    };
    configure(&mut config);
    TaniumClient::new(config).expect("a client")
}

fn assert_refused_certificate(result: Result<runbook_tanium::Package, Error>, why: &str) {
    let error = result.expect_err(why);
    let text = error.to_string();
    assert!(
        matches!(error, Error::Transport { .. }),
        "{why}: not a transport error: {text}"
    );
    assert!(
        text.to_ascii_lowercase().contains("certificate"),
        "{why}: the error does not name the certificate: {text}"
    );
}

#[tokio::test]
async fn an_unknown_authority_is_refused() {
    let sim = simulator().await;
    let authority = Authority::new();
    let (certificate, key) = authority.server_certificate(&["localhost", "127.0.0.1"]);
    let front = https_front(sim.address(), certificate, key).await;

    let client = client(&sim, format!("https://localhost:{}", front.port()), |_| {});
    assert_refused_certificate(
        client.package_by_name(PACKAGE).await,
        "a CA the client does not know",
    );
    assert!(sim.inspect().requests.is_empty(), "a request got through");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_private_authority_given_as_ca_cert_pem_is_trusted() {
    let sim = simulator().await;
    let authority = Authority::new();
    let (certificate, key) = authority.server_certificate(&["localhost", "127.0.0.1"]);
    let front = https_front(sim.address(), certificate, key).await;

    for host in ["localhost", "127.0.0.1"] {
        let client = client(&sim, format!("https://{host}:{}", front.port()), |config| {
            config.ca_cert_pem = Some(authority.pem.clone().into_bytes());
        });
        let package = client
            .package_by_name(PACKAGE)
            .await
            .unwrap_or_else(|error| panic!("{host}: {error}"));
        assert_eq!(package.name, PACKAGE);
    }
    assert_eq!(
        sim.inspect().request_count(
            "GET",
            "/api/v2/packages/by-name/Custom%20Tagging%20-%20Add%20Tags"
        ),
        2
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_certificate_for_another_name_is_refused_even_from_a_trusted_authority() {
    let sim = simulator().await;
    let authority = Authority::new();
    let (certificate, key) = authority.server_certificate(&["tanium.example.com"]);
    let front = https_front(sim.address(), certificate, key).await;

    for host in ["localhost", "127.0.0.1"] {
        let client = client(&sim, format!("https://{host}:{}", front.port()), |config| {
            config.ca_cert_pem = Some(authority.pem.clone().into_bytes());
        });
        assert_refused_certificate(
            client.package_by_name(PACKAGE).await,
            "a certificate for tanium.example.com",
        );
    }
    assert!(sim.inspect().requests.is_empty(), "a request got through");
    sim.shutdown().await;
}

#[tokio::test]
async fn insecure_accepts_an_unknown_authority_and_a_wrong_name() {
    let sim = simulator().await;
    let authority = Authority::new();
    let (certificate, key) = authority.server_certificate(&["tanium.example.com"]);
    let front = https_front(sim.address(), certificate, key).await;

    let client = client(
        &sim,
        format!("https://127.0.0.1:{}", front.port()),
        |config| {
            config.insecure = true;
        },
    );
    let package = client
        .package_by_name(PACKAGE)
        .await
        .expect("insecure trusts any certificate");
    assert_eq!(package.name, PACKAGE);
    sim.shutdown().await;
}
