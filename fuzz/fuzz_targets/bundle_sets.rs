//! The compiled section of a bundle (format 3): `bundle::decode` over arbitrary bytes, and over
//! a valid section of a small TP + MTP set with input-driven byte flips and truncations, never
//! panics; a section it accepts gives a snapshot whose every inbound decides (also without a
//! panic, whichever ids the bytes held).
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshauthz_core::bundle::{decode, encode, TrafficInputs};
use meshauthz_core::mtp::{Action, FromItem, MtpDataplane, MtpInbound, MtpPolicy, TargetRef};
use meshauthz_core::traffic::{DataplaneInput, MeshInput, PolicyInput, Subject};

const DIGEST: [u8; 32] = [7; 32];

fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Two services, a wildcard and an exact TrafficPermission, one MeshTrafficPermission.
fn small_set() -> TrafficInputs {
    let dp = |name: &str, svc: &str, port: u32| DataplaneInput {
        mesh: "default".into(),
        name: name.into(),
        inbounds: vec![(port, kv(&[("kuma.io/service", svc), ("version", "v1")]))],
        gateway: None,
    };
    let tp = |name: &str, src: &str, dst: &str, secs: i64| PolicyInput {
        mesh: "default".into(),
        name: name.into(),
        created: (secs, 0),
        sources: vec![kv(&[("kuma.io/service", src)])],
        destinations: vec![kv(&[("kuma.io/service", dst)])],
    };
    let mdp = |name: &str, svc: &str, port: u32| MtpDataplane {
        name: name.into(),
        mesh: "default".into(),
        labels: Default::default(),
        inbounds: vec![MtpInbound {
            port,
            name: String::new(),
            tags: kv(&[("kuma.io/service", svc)]).into_iter().collect(),
            ignored: false,
        }],
        gateway: None,
    };
    TrafficInputs {
        meshes: vec![MeshInput {
            name: "default".into(),
            mtls_enabled: true,
            passthrough: true,
            ..Default::default()
        }],
        dataplanes: vec![dp("web-1", "web", 8080), dp("backend-1", "backend", 9000)],
        external_services: Vec::new(),
        policies: vec![tp("all", "*", "*", 1), tp("web-backend", "web", "backend", 2)],
        mtp_policies: vec![MtpPolicy {
            name: "mtp".into(),
            mesh: "default".into(),
            labels: Default::default(),
            target_ref: TargetRef {
                kind: "MeshService".into(),
                name: "backend".into(),
                ..TargetRef::default()
            },
            from: vec![FromItem {
                target_ref: TargetRef {
                    kind: "Mesh".into(),
                    ..TargetRef::default()
                },
                action: Action::Deny,
            }],
        }],
        mtp_dataplanes: vec![mdp("web-1", "web", 8080), mdp("backend-1", "backend", 9000)],
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let bytes: Vec<u8> = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        let Ok(mut b) = encode(&DIGEST, small_set()) else {
            return;
        };
        // (position hi, position lo, xor) triples; mode bit 1: truncate at the last position.
        let mut last = b.len();
        for c in rest.chunks_exact(3) {
            if let (Some(&hi), Some(&lo), Some(&x)) = (c.first(), c.get(1), c.get(2)) {
                let pos = (usize::from(hi) << 8 | usize::from(lo)) % b.len().max(1);
                if let Some(byte) = b.get_mut(pos) {
                    *byte ^= x;
                }
                last = pos;
            }
        }
        if mode & 2 != 0 {
            b.truncate(last);
        }
        b
    };
    if let Ok(sets) = decode(&bytes, &DIGEST) {
        let snap = sets.snapshot();
        let n = snap.tp.dataplanes.len() as u32;
        for dp in 0..n {
            let ports: Vec<u32> = snap
                .tp
                .dataplanes
                .get(dp as usize)
                .map(|d| d.inbounds.iter().map(|(p, _)| *p).collect())
                .unwrap_or_default();
            for port in ports {
                let _ = snap.check_inbound(&Subject::NonMesh, dp, port);
                for client in 0..n {
                    let _ = snap.check_inbound(&Subject::Dataplane(client), dp, port);
                }
                let _ = snap.client_set(dp, port, true);
            }
        }
        for m in 0..snap.tp.meshes.len() as u32 {
            let _ = snap.service_matrix(m);
        }
    }
});
