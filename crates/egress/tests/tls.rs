//! TLS through the egress: a receiver served over HTTPS by a small rustls front with a
//! certificate from a private CA made here (rcgen). Without the CA the handshake fails and
//! nothing is sent; with it as `ca_cert_pem` the request goes through. Verification is never
//! turned off.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use common::{Receiver, answer, request};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use runbook_egress::{EgressConfig, HttpEgress};
use runbook_engine::{Egress, EgressErrorKind, HttpMethod};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// A private CA's PEM and an HTTPS front for `127.0.0.1` and `localhost` signed by it,
/// passing decrypted connections on to `plain`.
async fn https_front(plain: SocketAddr) -> (String, SocketAddr) {
    let ca_key = KeyPair::generate().expect("a CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca.distinguished_name
        .push(DnType::CommonName, "runbook egress test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_pem = ca.self_signed(&ca_key).expect("a self-signed CA").pem();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().expect("a server key");
    let params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("server parameters");
    let certificate = params
        .signed_by(&key, &issuer)
        .expect("a signed certificate");
    let config = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![certificate.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
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
                let Ok(mut upstream) = TcpStream::connect(plain).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
            });
        }
    });
    (ca_pem, address)
}

#[tokio::test]
async fn an_unknown_ca_is_refused_and_a_given_ca_is_trusted() {
    let receiver = Receiver::start(|_| answer(200, &[], "secure")).await;
    let (ca_pem, front) = https_front(receiver.address).await;
    let url = format!("https://{front}/SECRET-PATH");

    let without = HttpEgress::new(EgressConfig {
        allow: vec!["127.0.0.1".to_owned()],
        ..EgressConfig::default()
    })
    .expect("an egress");
    let err = without
        .send(&request(HttpMethod::Post, url.clone()))
        .await
        .expect_err("an unknown CA");
    eprintln!("without the CA: {}", err.message);
    assert_eq!(err.kind, EgressErrorKind::NotSent, "{}", err.message);
    assert!(err.message.contains("certificate"), "{}", err.message);
    assert!(!err.message.contains("SECRET"), "{}", err.message);
    assert!(receiver.seen().is_empty());

    for host in ["127.0.0.1", "localhost"] {
        let with = HttpEgress::new(EgressConfig {
            allow: vec!["127.0.0.1".to_owned(), "localhost".to_owned()],
            ca_cert_pem: Some(ca_pem.clone().into_bytes()),
            ..EgressConfig::default()
        })
        .expect("an egress");
        let url = format!("https://{host}:{}/SECRET-PATH", front.port());
        let got = with
            .send(&request(HttpMethod::Post, url))
            .await
            .expect("trusted");
        assert_eq!(got.body, b"secure");
    }
    assert_eq!(receiver.seen().len(), 2);
}
