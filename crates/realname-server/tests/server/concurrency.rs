//! Races: two devices claiming one handle, two accounts verifying one ID number.

use axum::http::StatusCode;
use realname_protocol::ErrorCode;
use realname_protocol::api::Outcome;

use super::support::{TestApp, id_number};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_devices_claiming_one_handle_exactly_one_wins() {
    let app = TestApp::new().await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    let (mut pc, phone) = app.account("race@example.com").await;
    let mut tablet = app.device("tablet");
    tablet.login("race@example.com", "correct horse battery").await;
    for round in 0..5 {
        let (session, handle) = pc.start_verification_or_retry(round).await;
        let (a, b) = tokio::join!(phone.try_claim(&handle), tablet.try_claim(&handle));
        let wins = [a.is_ok(), b.is_ok()].iter().filter(|w| **w).count();
        assert_eq!(wins, 1, "round {round}: {a:?} / {b:?}");
        let loser = a.err().or(b.err()).expect("one loser");
        assert_eq!(loser.code, ErrorCode::HandleUsed, "round {round}");
        let status = pc.status(&session).await;
        assert_eq!(status["state"], "scanned");
        // Cancel so the next round can start a new session.
        for d in [&phone, &tablet] {
            let _ = d.post_json(&format!("/companion/sessions/{session}/cancel"), serde_json::json!({})).await;
        }
    }
}

impl super::support::Browser<'_> {
    /// Round 0: the identity form; later rounds: "try again" on the previous session.
    async fn start_verification_or_retry(&mut self, round: usize) -> (String, String) {
        if round == 0 {
            let id = id_number("11010519900307123");
            let (s, h) = self.start_verification("张三", &id).await;
            self.cookies.insert("last_session".into(), s.clone());
            return (s, h);
        }
        let prev = self.cookies.get("last_session").cloned().expect("previous session");
        let resp =
            self.submit(&format!("/verify/sessions/{prev}"), &format!("/verify/sessions/{prev}/retry"), &[]).await;
        assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.text());
        let s = resp.location().expect("location").trim_start_matches("/verify/sessions/").to_owned();
        self.cookies.insert("last_session".into(), s.clone());
        let h = self.qr_handle(&s).await;
        (s, h)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_id_number_verifies_one_account_even_when_racing() {
    let app = TestApp::new().await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    let (mut pc1, phone1) = app.account("first@example.com").await;
    let (mut pc2, phone2) = app.account("second@example.com").await;
    let (s1, h1) = pc1.start_verification("张三", &id).await;
    let (s2, h2) = pc2.start_verification("张三", &id).await;
    let c1 = phone1.claim(&h1).await;
    let c2 = phone2.claim(&h2).await;
    phone1.confirm(&c1.session_id).await;
    phone2.confirm(&c2.session_id).await;

    let (r1, r2) = tokio::join!(phone1.perform(&c1.session_id, &c1, 1), phone2.perform(&c2.session_id, &c2, 1));
    let (winner, loser, loser_session, loser_pc) = match (&r1, &r2) {
        (Ok(d), Err(e)) => (d, e, &s2, &mut pc2),
        (Err(e), Ok(d)) => (d, e, &s1, &mut pc1),
        other => panic!("expected exactly one winner, got {other:?}"),
    };
    assert_eq!(winner.outcome, Outcome::Passed);
    assert_eq!(loser.code, ErrorCode::IdAlreadyVerified);
    assert!(loser.message.contains("One ID number can verify at most one account"), "{}", loser.message);
    let status = loser_pc.status(loser_session).await;
    assert_eq!(status["state"], "failed");
    assert_eq!(status["code"], "id_already_verified");

    // A third account is stopped at the form with the same clear code.
    let (mut pc3, _phone3) = app.account("third@example.com").await;
    let resp = pc3.submit_identity("张三", &id).await;
    assert_eq!(resp.status, StatusCode::CONFLICT);
    assert_eq!(resp.page_error_code().as_deref(), Some("id_already_verified"));
    let verified = app.state.store.list_verified_identities(10).await.expect("list");
    assert_eq!(verified.len(), 1);
}

/// Many captures of one ID number record their similarity prints at once (a load test's
/// genuine users share a few identities): every claim succeeds. On SQLite a transaction that
/// reads before it writes cannot take the write lock once another writer has committed after
/// its read ("database is locked", no busy wait), so the claim must write first.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_similarity_claims_for_one_id_all_succeed() {
    let app = TestApp::new().await;
    let id_hash = [7u8; 32];
    let prints: Vec<realname_liveness::SimilarityPrint> = (0..16u64)
        .map(|k| realname_liveness::SimilarityPrint { face: k.wrapping_mul(0x9e37_79b9_7f4a_7c15), frame: !k })
        .collect();
    let tasks = (0..24).map(|i| {
        let (store, prints) = (app.state.store.clone(), prints.clone());
        tokio::spawn(async move {
            store
                .claim_similarity_prints(&id_hash, &format!("session-{i}"), &format!("upload-{i}"), &prints, 1_000)
                .await
        })
    });
    let results = futures::future::join_all(tasks).await;
    let failed: Vec<String> =
        results.into_iter().filter_map(|r| r.expect("task").err()).map(|e| e.to_string()).collect();
    assert!(failed.is_empty(), "{} of 24 claims failed: {failed:?}", failed.len());
    // Every upload was recorded: a later session sees all 24.
    let seen =
        app.state.store.claim_similarity_prints(&id_hash, "later", "upload-later", &[], 2_000).await.expect("claim");
    assert_eq!(seen.len(), 24);
}
