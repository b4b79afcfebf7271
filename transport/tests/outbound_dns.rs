//! MX resolution through the real hickory resolver against a tiny DNS
//! server running in the test on 127.0.0.1:<random> (UDP): preference
//! order, the A fallback, null MX, and the error classification (NXDOMAIN
//! permanent, SERVFAIL temporary, an unanswering server temporary).

#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::{A, MX};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::net::UdpSocket;
use xshell_transport::dns::{DnsError, HickoryResolver, resolve_mx};

fn name(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

/// The zone the server answers from.
fn answer(q: &Name, t: RecordType) -> Result<Vec<RData>, ResponseCode> {
    let q = q.to_ascii().to_ascii_lowercase();
    let a = |o: u8| RData::A(A(Ipv4Addr::new(127, 0, 0, o)));
    match (q.as_str(), t) {
        ("orgb.example.", RecordType::MX) => Ok(vec![
            RData::MX(MX::new(20, name("mx3.orgb.example."))),
            RData::MX(MX::new(10, name("mx1.orgb.example."))),
            RData::MX(MX::new(10, name("mx2.orgb.example."))),
        ]),
        ("mx1.orgb.example.", RecordType::A) => Ok(vec![a(1)]),
        ("mx2.orgb.example.", RecordType::A) => Ok(vec![a(2)]),
        ("mx3.orgb.example.", RecordType::A) => Ok(vec![a(3)]),
        ("nomx.example.", RecordType::A) => Ok(vec![a(9)]),
        ("null.example.", RecordType::MX) => Ok(vec![RData::MX(MX::new(0, Name::root()))]),
        ("fail.example.", _) => Err(ResponseCode::ServFail),
        (
            "orgb.example." | "mx1.orgb.example." | "mx2.orgb.example." | "mx3.orgb.example."
            | "nomx.example." | "null.example.",
            _,
        ) => Ok(vec![]),
        _ => Err(ResponseCode::NXDomain),
    }
}

/// Serves the zone on a random UDP port until the test ends.
async fn dns_server() -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                return;
            };
            let Ok(query) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut resp = Message::response(query.metadata.id, query.metadata.op_code);
            resp.metadata.recursion_desired = query.metadata.recursion_desired;
            resp.metadata.recursion_available = true;
            for q in &query.queries {
                resp.add_query(q.clone());
                match answer(&q.name, q.query_type) {
                    Ok(rdatas) => {
                        for rd in rdatas {
                            resp.add_answer(Record::from_rdata(q.name.clone(), 60, rd));
                        }
                    }
                    Err(code) => resp.metadata.response_code = code,
                }
            }
            if let Ok(bytes) = resp.to_vec() {
                let _ = sock.send_to(&bytes, peer).await;
            }
        }
    });
    addr
}

fn resolver(addr: SocketAddr) -> HickoryResolver {
    HickoryResolver::new(
        &[addr.to_string().parse().unwrap()],
        Duration::from_secs(2),
        1,
    )
    .unwrap()
}

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn mx_resolution_through_a_loopback_dns_server() {
    let r = resolver(dns_server().await);
    let hosts = tokio::time::timeout(WAIT, resolve_mx(&r, "OrgB.Example", 2525, 7))
        .await
        .unwrap()
        .unwrap();
    let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names.len(), 3);
    let mut first_two = names[..2].to_vec();
    first_two.sort();
    assert_eq!(first_two, ["mx1.orgb.example", "mx2.orgb.example"]);
    assert_eq!(names[2], "mx3.orgb.example");
    let mx1 = hosts.iter().find(|h| h.name == "mx1.orgb.example").unwrap();
    assert_eq!(
        mx1.addrs,
        [SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)),
            2525
        )]
    );

    // no MX: the domain's own address
    let hosts = tokio::time::timeout(WAIT, resolve_mx(&r, "nomx.example", 25, 7))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hosts[0].name, "nomx.example");
    assert_eq!(
        hosts[0].addrs[0].ip(),
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9))
    );

    let e = resolve_mx(&r, "null.example", 25, 7).await.unwrap_err();
    assert!(matches!(e, DnsError::NullMx { .. }), "{e:?}");
    assert!(e.is_permanent());

    let e = resolve_mx(&r, "nowhere.example", 25, 7).await.unwrap_err();
    assert!(matches!(e, DnsError::NxDomain { .. }), "{e:?}");
    assert!(e.is_permanent());

    let e = resolve_mx(&r, "fail.example", 25, 7).await.unwrap_err();
    assert!(matches!(e, DnsError::Temporary { .. }), "{e:?}");
    assert!(!e.is_permanent());
}

#[tokio::test]
async fn an_unanswering_dns_server_is_a_temporary_failure() {
    // bound, never answers
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let r = HickoryResolver::new(
        &[silent.local_addr().unwrap().to_string().parse().unwrap()],
        Duration::from_millis(300),
        1,
    )
    .unwrap();
    let e = tokio::time::timeout(WAIT, resolve_mx(&r, "orgb.example", 25, 1))
        .await
        .unwrap()
        .unwrap_err();
    assert!(!e.is_permanent(), "{e:?}");
}
