//! Callbacks as a merchant receives them: verified by the example verifier
//! (`examples/webhook_verifier.rs`), retried on the schedule when refused,
//! and not lost when the gateway dies between attempts.

#[path = "../../examples/webhook_verifier.rs"]
pub mod verifier;

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use payscore_gateway::clock::{Clock, ManualClock};
use payscore_gateway::pb::v1::{self as pb, onboarding_client::OnboardingClient};
use tonic::transport::Channel;

use crate::harness::receiver::Receiver;
use crate::harness::*;
use verifier::{Rejected, Verdict, Verifier};

async fn platform_keys(channel: &Channel, merchant: &Merchant) -> HashMap<String, String> {
    let s = merchant.sandbox();
    let keys = OnboardingClient::new(channel.clone())
        .get_platform_keys(s.request(pb::GetPlatformKeysRequest {}))
        .await
        .unwrap()
        .into_inner()
        .keys;
    keys.into_iter()
        .map(|k| (k.serial, k.public_key_pem))
        .collect()
}

fn now_secs(clock: &ManualClock) -> i64 {
    clock.now() / 1000
}

#[tokio::test]
async fn a_real_callback_verifies_and_forgeries_do_not() {
    let redis = RedisServer::start();
    let gw = TestGateway::on_redis(&redis).await;
    let receiver = Receiver::start(0).await;
    let m = merchant_notifying(&gw.channel, &receiver.url).await;
    let s = m.sandbox();
    s.authorize(authorize("hook-0001", "sbx_wendy", 9_900, true))
        .await
        .unwrap();
    let delivery = receiver.wait_for(1).await.remove(0);
    assert_eq!(delivery.answered, 200);

    let mut verifier = Verifier::new(platform_keys(&gw.channel, &m).await, m.api_v3_key.clone());
    let now = now_secs(&gw.clock);
    let Verdict::Fresh(order) = verifier
        .verify(&delivery.headers, &delivery.body, now)
        .unwrap()
    else {
        panic!("a first delivery is fresh");
    };
    assert_eq!(order["event_type"], "ORDER.CREATED");
    assert_eq!(order["outOrderNo"], "hook-0001");
    assert_eq!(order["state"], "ORDER_STATE_CREATED");
    let envelope: serde_json::Value = serde_json::from_str(&delivery.body).unwrap();
    assert_eq!(envelope["resource"]["algorithm"], "AEAD_AES_256_GCM");
    assert_eq!(envelope["resource_type"], "encrypt-resource");
    assert_eq!(
        verifier.verify(&delivery.headers, &delivery.body, now),
        Ok(Verdict::Duplicate)
    );

    // A forged signature.
    let mut forged = delivery.headers.clone();
    let mut signature = BASE64.decode(&forged["payscore-signature"]).unwrap();
    let last = signature.len() - 1;
    signature[last] ^= 1;
    forged.insert("payscore-signature".into(), BASE64.encode(signature));
    assert!(verifier.verify(&forged, &delivery.body, now).is_err());

    // Altered ciphertext.
    let mut altered: serde_json::Value = envelope.clone();
    let ciphertext = altered["resource"]["ciphertext"]
        .as_str()
        .unwrap()
        .to_owned();
    let flipped = if ciphertext.starts_with('A') {
        "B"
    } else {
        "A"
    };
    altered["resource"]["ciphertext"] = format!("{flipped}{}", &ciphertext[1..]).into();
    let mut fresh = Verifier::new(verifier.platform_keys.clone(), m.api_v3_key.clone());
    assert!(
        fresh
            .verify(&delivery.headers, &altered.to_string(), now)
            .is_err()
    );

    // Ten minutes late.
    assert_eq!(
        fresh.verify(&delivery.headers, &delivery.body, now + 600),
        Err(Rejected::StaleTimestamp)
    );
    // Another merchant's key cannot read it.
    let other = merchant_on(&gw.channel).await;
    let mut wrong_key = Verifier::new(verifier.platform_keys.clone(), other.api_v3_key.clone());
    assert_eq!(
        wrong_key.verify(&delivery.headers, &delivery.body, now),
        Err(Rejected::Undecryptable)
    );
}

#[tokio::test]
async fn refused_callbacks_are_retried_on_the_schedule() {
    let redis = RedisServer::start();
    let gw = TestGateway::on_redis(&redis).await;
    let receiver = Receiver::start(2).await;
    let m = merchant_notifying(&gw.channel, &receiver.url).await;
    m.sandbox()
        .authorize(authorize("hook-0002", "sbx_xavi", 9_900, false))
        .await
        .unwrap();
    receiver.wait_for(1).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(receiver.deliveries().len(), 1, "no retry before 15 s");

    gw.clock.advance(15_000);
    receiver.wait_for(2).await;
    gw.clock.advance(14_000);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        receiver.deliveries().len(),
        2,
        "the second wait is 15 s too"
    );
    gw.clock.advance(1_000);
    let all = receiver.wait_for(3).await;
    assert_eq!(
        all.iter().map(|d| d.answered).collect::<Vec<_>>(),
        vec![500, 500, 200]
    );

    // Acknowledged: never sent again.
    gw.clock.advance(3_600_000);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(receiver.deliveries().len(), 3);
    // Every attempt was a valid callback of the same event (checked as of
    // when it arrived).
    let mut verifier = Verifier::new(platform_keys(&gw.channel, &m).await, m.api_v3_key.clone());
    let ids: Vec<_> = all
        .iter()
        .map(|d| serde_json::from_str::<serde_json::Value>(&d.body).unwrap()["id"].clone())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1]));
    let last = &all[2];
    let received: i64 = last.headers["payscore-timestamp"].parse().unwrap();
    assert!(matches!(
        verifier.verify(&last.headers, &last.body, received),
        Ok(Verdict::Fresh(_))
    ));
}

#[tokio::test]
async fn a_delivery_survives_the_gateway_dying_between_attempts() {
    let redis = RedisServer::start();
    let receiver = Receiver::start(1).await;
    let clock = Arc::new(ManualClock::new());
    let options = Options {
        redis_url: Some(redis.url()),
        key_prefix: Some("hooks".into()),
        clock: Some(clock.clone()),
        ..Options::default()
    };
    let (_, operator_public) = payscore_gateway::auth::token::generate_key_pair();
    let mut a = KillableGateway::start(options.clone(), &operator_public).await;
    let m = merchant_notifying(&a.channel, &receiver.url).await;
    m.sandbox()
        .authorize(authorize("hook-0003", "sbx_yuki", 9_900, true))
        .await
        .unwrap();
    receiver.wait_for(1).await;
    a.kill();

    let b = TestGateway::start(options).await;
    // A may have died holding the queue (between delivering and releasing
    // its claim): then the retry waits for A's lease (60 s), not for the
    // 15 s of the schedule. Past both, the retry must come.
    clock.advance(61_000);
    let all = receiver.wait_for(2).await;
    assert_eq!(
        all[1].answered, 200,
        "the retry came from the surviving replica"
    );
    let mut verifier = Verifier::new(platform_keys(&b.channel, &m).await, m.api_v3_key.clone());
    assert!(matches!(
        verifier.verify(&all[1].headers, &all[1].body, now_secs(&clock)),
        Ok(Verdict::Fresh(_))
    ));
}

#[tokio::test]
async fn a_rotated_platform_key_signs_while_the_old_one_stays_published() {
    let redis = RedisServer::start();
    let gw = TestGateway::on_redis(&redis).await;
    let receiver = Receiver::start(0).await;
    let m = merchant_notifying(&gw.channel, &receiver.url).await;
    let before = platform_keys(&gw.channel, &m).await;
    assert_eq!(before.len(), 1);

    let op = gw.operator();
    let mut client =
        payscore_gateway::pb::v1::operations_client::OperationsClient::new(gw.channel.clone());
    let mut request = tonic::Request::new(pb::RotatePlatformKeyRequest {
        overlap_seconds: 3_600,
        reason: "yearly rotation".into(),
    });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", op.token).parse().unwrap(),
    );
    let rotated = client
        .rotate_platform_key(request)
        .await
        .unwrap()
        .into_inner()
        .keys;
    assert_eq!(
        rotated.len(),
        2,
        "old and new are both published during the overlap"
    );

    m.sandbox()
        .authorize(authorize("hook-0004", "sbx_zoe", 9_900, true))
        .await
        .unwrap();
    let delivery = receiver.wait_for(1).await.remove(0);
    let serial = &delivery.headers["payscore-serial"];
    assert!(!before.contains_key(serial), "signed with the new key");
    // A merchant that knew only the old key learns the new one, then verifies.
    let mut stale = Verifier::new(before, m.api_v3_key.clone());
    let now = now_secs(&gw.clock);
    assert_eq!(
        stale.verify(&delivery.headers, &delivery.body, now),
        Err(Rejected::UnknownSerial(serial.clone()))
    );
    stale.platform_keys = platform_keys(&gw.channel, &m).await;
    assert!(matches!(
        stale.verify(&delivery.headers, &delivery.body, now),
        Ok(Verdict::Fresh(_))
    ));
}
