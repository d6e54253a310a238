//! Join tokens on both engines: uses counted and bounded (also by racing joins), expiry by
//! the database's clock, revocation, and the enrolled id's key.

use super::super::tests::{on_both, open_temp};
use super::*;
use crate::MAX_CERTIFICATES_PER_KEY;

fn new(id: &str, valid_for_ms: i64, max_uses: i64, allow_reenroll: bool) -> NewJoinToken {
    NewJoinToken {
        id: id.to_owned(),
        secret_sha256: format!("hash-of-{id}"),
        deployment: "prod".to_owned(),
        valid_for_ms,
        max_uses,
        allow_reenroll,
    }
}

fn join(id: &str, agent: &str, key: &str) -> JoinRequest {
    JoinRequest {
        token_id: id.to_owned(),
        secret_sha256: format!("hash-of-{id}"),
        agent_id: agent.to_owned(),
        key_sha256: key.to_owned(),
        issued: Vec::new(),
    }
}

fn joined(reenrolled: bool) -> Joined {
    Joined {
        deployment: "prod".into(),
        reenrolled,
        retry: false,
        superseded: Vec::new(),
    }
}

fn cert(agent: &str, sha: &str, key: Option<&str>, revoked_in_file: bool) -> IssuedCertificate {
    IssuedCertificate {
        agent_id: agent.to_owned(),
        sha256: sha.to_owned(),
        key_sha256: key.map(str::to_owned),
        bundle: key.is_none(),
        revoked_in_file,
        deployment: key.map(|_| "prod".to_owned()),
    }
}

/// A token and one join with it, as a collector's database holds them (the copy's tests).
pub(crate) async fn fill(store: &Store) {
    store
        .create_join_token(new("0123456789ab", 3_600_000, 3, false))
        .await
        .expect("token");
    let joined = store
        .use_join_token(join("0123456789ab", "web-2", "k1"))
        .await;
    joined.expect("join").expect("the token allows the join");
}

/// A token without the database's clock of its read (which differs between two reads).
pub(crate) fn comparable(tokens: Vec<JoinToken>) -> Vec<(String, String, i64, i64, i64)> {
    tokens
        .into_iter()
        .map(|t| {
            (
                t.id,
                t.deployment,
                t.expires_unix_ms - t.created_unix_ms,
                t.max_uses,
                t.uses,
            )
        })
        .collect()
}

on_both! {
    async fn a_token_counts_its_uses_and_refuses_once_used_up_revoked_or_unknown() {
        let (_db, store) = open_temp().await;
        let t = store.create_join_token(new("t1", 3_600_000, 2, false)).await.unwrap();
        assert_eq!((t.uses, t.max_uses, t.revoked_unix_ms), (0, 2, 0));
        assert_eq!(t.expires_unix_ms - t.created_unix_ms, 3_600_000);
        let ok = store.use_join_token(join("t1", "svc-1", "k1")).await.unwrap();
        assert_eq!(ok, Ok(joined(false)));
        // The same token, agent and key again (its reply was lost): allowed, no use spent.
        let retry = store.use_join_token(join("t1", "svc-1", "k1")).await.unwrap();
        assert_eq!(retry, Ok(Joined { retry: true, ..joined(false) }));
        assert_eq!(store.join_tokens().await.unwrap()[0].uses, 1);
        assert!(store.use_join_token(join("t1", "svc-4", "k4")).await.unwrap().is_ok());
        assert_eq!(
            store.use_join_token(join("t1", "svc-2", "k2")).await.unwrap(),
            Err(JoinRefusal::UsedUp { max_uses: 2 })
        );
        let mut wrong = join("t1", "svc-2", "k2");
        wrong.secret_sha256 = "another".into();
        assert_eq!(store.use_join_token(wrong).await.unwrap(), Err(JoinRefusal::Unknown));
        assert_eq!(
            store.use_join_token(join("nope", "svc-2", "k2")).await.unwrap(),
            Err(JoinRefusal::Unknown)
        );
        store.create_join_token(new("t2", 3_600_000, 5, false)).await.unwrap();
        assert!(store.revoke_join_token("t2").await.unwrap());
        assert!(!store.revoke_join_token("t2").await.unwrap(), "already revoked");
        assert!(!store.revoke_join_token("none").await.unwrap());
        assert_eq!(
            store.use_join_token(join("t2", "svc-3", "k3")).await.unwrap(),
            Err(JoinRefusal::Revoked)
        );
        let listed = store.join_tokens().await.unwrap();
        assert_eq!(listed.len(), 2);
        let t1 = listed.iter().find(|t| t.id == "t1").unwrap();
        assert_eq!(t1.uses, 2);
        let t2 = listed.iter().find(|t| t.id == "t2").unwrap();
        assert!(t2.revoked_unix_ms > 0 && t2.uses == 0);
        store.close().await;
    }
}

on_both! {
    async fn an_expired_token_is_refused_by_the_database_clock() {
        let (_db, store) = open_temp().await;
        // Expired at its creation.
        store.create_join_token(new("old", -1, 5, false)).await.unwrap();
        let refused = store.use_join_token(join("old", "svc-1", "k1")).await.unwrap();
        assert!(matches!(refused, Err(JoinRefusal::Expired { .. })), "{refused:?}");
        let t = &store.join_tokens().await.unwrap()[0];
        assert_eq!(t.uses, 0, "a refusal spends nothing");
        assert!(t.expires_unix_ms <= t.now_unix_ms);
        store.close().await;
    }
}

on_both! {
    async fn an_enrolled_id_with_another_key_needs_a_token_allowing_reenrollment() {
        let (_db, store) = open_temp().await;
        store.create_join_token(new("plain", 3_600_000, 10, false)).await.unwrap();
        store.create_join_token(new("again", 3_600_000, 10, true)).await.unwrap();
        assert!(store.use_join_token(join("plain", "svc-1", "k1")).await.unwrap().is_ok());
        assert_eq!(
            store.use_join_token(join("plain", "svc-1", "k2")).await.unwrap(),
            Err(JoinRefusal::AlreadyEnrolled { key_sha256: "k1".into() })
        );
        let plain = store.join_tokens().await.unwrap();
        assert_eq!(plain.iter().find(|t| t.id == "plain").unwrap().uses, 1);
        assert_eq!(
            store.use_join_token(join("again", "svc-1", "k2")).await.unwrap(),
            Ok(joined(true))
        );
        // Now k2 is the id's key: k1 is the other one.
        assert_eq!(
            store.use_join_token(join("plain", "svc-1", "k1")).await.unwrap(),
            Err(JoinRefusal::AlreadyEnrolled { key_sha256: "k2".into() })
        );
        // An id with a bundle's certificate: the same rule.
        let mut bundled = join("plain", "app-1", "k9");
        bundled.issued = vec![cert("app-1", "c1", None, false)];
        assert_eq!(
            store.use_join_token(bundled.clone()).await.unwrap(),
            Err(JoinRefusal::BundleEnrolled { cert_sha256: "c1".into() })
        );
        bundled.token_id = "again".into();
        bundled.secret_sha256 = "hash-of-again".into();
        // Re-enrolled: the bundle's certificate is revoked in the same transaction.
        assert_eq!(
            store.use_join_token(bundled).await.unwrap(),
            Ok(Joined { superseded: vec!["c1".into()], ..joined(true) })
        );
        let revoked: Vec<_> = store.revocations().await.unwrap().into_iter().map(|r| (r.sha256, r.agent_id)).collect();
        assert_eq!(revoked, [("c1".to_string(), "app-1".to_string())]);
        store.close().await;
    }
}

on_both! {
    async fn racing_joins_never_spend_more_than_the_uses() {
        let (db, store) = open_temp().await;
        store.create_join_token(new("race", 3_600_000, 3, false)).await.unwrap();
        // Two stores (two collectors) on one database, twelve joins at once.
        let other = db.reopen().await;
        let mut joins = Vec::new();
        for i in 0..12 {
            let s = if i % 2 == 0 { store.clone() } else { other.clone() };
            joins.push(tokio::spawn(async move {
                s.use_join_token(join("race", &format!("svc-{i}"), &format!("k{i}"))).await
            }));
        }
        let mut allowed = 0;
        for j in joins {
            match j.await.unwrap() {
                Ok(Ok(_)) => allowed += 1,
                Ok(Err(JoinRefusal::UsedUp { max_uses: 3 })) => {}
                // SQLite's second writer may find the file locked: an error, nothing spent.
                Ok(Err(other)) => panic!("{other:?}"),
                Err(_) => {}
            }
        }
        assert!(allowed <= 3, "{allowed} joins allowed");
        let t = &store.join_tokens().await.unwrap()[0];
        assert_eq!(t.uses, allowed);
        other.close().await;
        store.close().await;
    }
}

on_both! {
    async fn a_revoked_id_needs_a_reenroll_token_and_a_revoked_key_is_never_taken_again() {
        let (_db, store) = open_temp().await;
        store.create_join_token(new("plain", 3_600_000, 10, false)).await.unwrap();
        store.create_join_token(new("again", 3_600_000, 10, true)).await.unwrap();
        assert!(store.use_join_token(join("plain", "svc-1", "k1")).await.unwrap().is_ok());
        // `revoke svc-1`: its one certificate (key k1) in revoked.txt.
        let mut same = join("plain", "svc-1", "k1");
        same.issued = vec![cert("svc-1", "c1", Some("k1"), true)];
        let key_revoked = Err(JoinRefusal::KeyRevoked { agent_id: "svc-1".into(), cert_sha256: "c1".into() });
        assert_eq!(store.use_join_token(same.clone()).await.unwrap(), key_revoked);
        // Under another id, or with a token allowing re-enrollment: still never.
        let mut other_id = same.clone();
        other_id.agent_id = "svc-9".into();
        assert_eq!(store.use_join_token(other_id).await.unwrap(), key_revoked);
        same.token_id = "again".into();
        same.secret_sha256 = "hash-of-again".into();
        assert_eq!(store.use_join_token(same).await.unwrap(), key_revoked);
        // A new key for the revoked id: only with a token allowing re-enrollment.
        let mut fresh = join("plain", "svc-1", "k2");
        fresh.issued = vec![cert("svc-1", "c1", Some("k1"), true)];
        assert_eq!(
            store.use_join_token(fresh.clone()).await.unwrap(),
            Err(JoinRefusal::AgentRevoked { cert_sha256: "c1".into() })
        );
        // Revoked in the database only (`revoke --db` on another collector): the same.
        let mut in_db = join("plain", "svc-2", "k5");
        store.record_revocations(vec![crate::Revocation { sha256: "c5".into(), agent_id: "svc-2".into(), revoked_unix_ms: 1 }]).await.unwrap();
        in_db.issued = vec![cert("svc-2", "c5", None, false)];
        assert_eq!(
            store.use_join_token(in_db).await.unwrap(),
            Err(JoinRefusal::AgentRevoked { cert_sha256: "c5".into() })
        );
        fresh.token_id = "again".into();
        fresh.secret_sha256 = "hash-of-again".into();
        let done = store.use_join_token(fresh).await.unwrap().unwrap();
        assert!(done.reenrolled && done.superseded.is_empty(), "{done:?}");
        let uses: Vec<_> = store.join_tokens().await.unwrap().into_iter().map(|t| (t.id, t.uses)).collect();
        assert!(uses.contains(&("plain".into(), 1)) && uses.contains(&("again".into(), 1)), "{uses:?}");
        store.close().await;
    }
}

on_both! {
    async fn a_reenrollment_revokes_the_earlier_keys_certificates_in_its_transaction() {
        let (_db, store) = open_temp().await;
        store.create_join_token(new("plain", 3_600_000, 10, false)).await.unwrap();
        store.create_join_token(new("again", 3_600_000, 10, true)).await.unwrap();
        assert!(store.use_join_token(join("plain", "svc-1", "k1")).await.unwrap().is_ok());
        let mut second = join("again", "svc-1", "k2");
        second.issued = vec![cert("svc-1", "c1", Some("k1"), false)];
        let done = store.use_join_token(second).await.unwrap().unwrap();
        assert_eq!(done.superseded, ["c1"]);
        assert_eq!(store.revocations().await.unwrap()[0].sha256, "c1");
        // The old key now: refused for good.
        let mut old = join("plain", "svc-1", "k1");
        old.issued = vec![cert("svc-1", "c1", Some("k1"), false), cert("svc-1", "c2", Some("k2"), false)];
        assert_eq!(
            store.use_join_token(old).await.unwrap(),
            Err(JoinRefusal::KeyRevoked { agent_id: "svc-1".into(), cert_sha256: "c1".into() })
        );
        store.close().await;
    }
}

on_both! {
    async fn the_read_check_another_deployment_and_the_retry_bound() {
        let (_db, store) = open_temp().await;
        store.create_join_token(new("t1", 3_600_000, 1, true)).await.unwrap();
        let check = |id: &'static str, secret: &'static str, agent: &'static str| {
            let store = store.clone();
            async move { store.check_join_token(id, secret, agent, "k1").await.unwrap() }
        };
        assert_eq!(check("t1", "hash-of-t1", "svc-1").await, Ok(()));
        assert_eq!(check("t1", "wrong", "svc-1").await, Err(JoinRefusal::Unknown));
        assert_eq!(check("zz", "hash-of-zz", "svc-1").await, Err(JoinRefusal::Unknown));
        assert!(store.use_join_token(join("t1", "svc-1", "k1")).await.unwrap().is_ok());
        // Used up, but a retry of the join that enrolled svc-1 with k1 still passes.
        assert_eq!(check("t1", "hash-of-t1", "svc-1").await, Ok(()));
        assert_eq!(check("t1", "hash-of-t1", "svc-2").await, Err(JoinRefusal::UsedUp { max_uses: 1 }));
        // The retry is free up to the bound of certificates for this id and key.
        let mut retry = join("t1", "svc-1", "k1");
        retry.issued = (0..MAX_CERTIFICATES_PER_KEY)
            .map(|i| cert("svc-1", &format!("c{i}"), Some("k1"), false))
            .collect();
        assert_eq!(
            store.use_join_token(retry).await.unwrap(),
            Err(JoinRefusal::RetriesSpent { certificates: MAX_CERTIFICATES_PER_KEY })
        );
        // A token of another deployment, re-enrollment allowed, cannot take a prod id.
        let mut lab = new("t2", 3_600_000, 5, true);
        lab.deployment = "lab".into();
        store.create_join_token(lab).await.unwrap();
        let mut take = join("t2", "svc-1", "k9");
        take.issued = vec![cert("svc-1", "c0", Some("k1"), false)];
        assert_eq!(
            store.use_join_token(take).await.unwrap(),
            Err(JoinRefusal::OtherDeployment { current: "prod".into(), token: "lab".into() })
        );
        assert_eq!(store.join_tokens().await.unwrap().iter().find(|t| t.id == "t2").unwrap().uses, 0);
        store.create_join_token(new("t3", 3_600_000, 5, false)).await.unwrap();
        store.revoke_join_token("t3").await.unwrap();
        assert_eq!(check("t3", "hash-of-t3", "svc-1").await, Err(JoinRefusal::Revoked));
        store.create_join_token(new("t4", -1, 5, false)).await.unwrap();
        assert!(matches!(check("t4", "hash-of-t4", "svc-1").await, Err(JoinRefusal::Expired { .. })));
        store.close().await;
    }
}
