//! Token attacks are refused, and one merchant never reaches another's orders.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use payscore_gateway::auth::token::{self, Claims, unix_now};
use payscore_gateway::pb::v1::{self as pb, onboarding_client::OnboardingClient};
use tonic::Code;

use crate::harness::*;

fn claims(merchant_id: &str, iat: u64, exp: u64, aud: &str) -> Claims {
    Claims {
        iss: merchant_id.into(),
        aud: aud.into(),
        iat,
        exp,
        env: Some("sandbox".into()),
        role: None,
    }
}

/// Signs like a merchant would, with full control of the claims.
fn signed(m: &Merchant, claims: &Claims) -> String {
    token::sign(claims, Some(&m.key_id), &m.private_key_pem).unwrap()
}

async fn refused(s: &Session, bearer: String) -> tonic::Status {
    s.with_bearer(bearer).get("whatever-1").await.unwrap_err()
}

#[tokio::test]
async fn forged_and_bad_tokens_are_refused() {
    let redis = RedisServer::start();
    let gw = TestGateway::on_redis(&redis).await;
    let m = gw.merchant().await;
    let s = m.sandbox();
    let now = unix_now();

    // alg: none, no signature.
    let header = URL_SAFE_NO_PAD.encode(format!(
        r#"{{"alg":"none","typ":"JWT","kid":"{}"}}"#,
        m.key_id
    ));
    let body = URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&claims(&m.id, now, now + 300, "payscore-gateway")).unwrap());
    let none = refused(&s, format!("{header}.{body}.")).await;
    assert_eq!(
        (none.code(), reason(&none).as_str()),
        (Code::Unauthenticated, "INVALID_TOKEN")
    );

    // HS256 "signed" with the merchant's public key as the secret.
    let public_pem = {
        use p256::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
        let secret = p256::SecretKey::from_pkcs8_pem(&m.private_key_pem).unwrap();
        secret
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap()
    };
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some(m.key_id.clone());
    let hs256 = jsonwebtoken::encode(
        &hs,
        &claims(&m.id, now, now + 300, "payscore-gateway"),
        &EncodingKey::from_secret(public_pem.as_bytes()),
    )
    .unwrap();
    assert_eq!(reason(&refused(&s, hs256).await), "INVALID_TOKEN");

    let expired = refused(
        &s,
        signed(&m, &claims(&m.id, now - 400, now - 100, "payscore-gateway")),
    )
    .await;
    assert_eq!(
        (expired.code(), reason(&expired).as_str()),
        (Code::Unauthenticated, "TOKEN_EXPIRED")
    );

    let wrong_aud = refused(
        &s,
        signed(&m, &claims(&m.id, now, now + 300, "someone-else")),
    )
    .await;
    assert_eq!(reason(&wrong_aud), "INVALID_TOKEN");

    let future_iat = refused(
        &s,
        signed(&m, &claims(&m.id, now + 300, now + 600, "payscore-gateway")),
    )
    .await;
    assert_eq!(reason(&future_iat), "INVALID_TOKEN");

    let too_long = refused(
        &s,
        signed(&m, &claims(&m.id, now, now + 3_600, "payscore-gateway")),
    )
    .await;
    assert_eq!(
        reason(&too_long),
        "INVALID_TOKEN",
        "exp at most 10 minutes after iat"
    );

    let other = gw.merchant().await;
    let as_other = refused(
        &s,
        signed(&m, &claims(&other.id, now, now + 300, "payscore-gateway")),
    )
    .await;
    assert_eq!(reason(&as_other), "INVALID_TOKEN", "iss must own the kid");

    let mut big = claims(&m.id, now, now + 300, "payscore-gateway");
    big.env = Some("x".repeat(5_000));
    assert_eq!(
        reason(&refused(&s, signed(&m, &big)).await),
        "INVALID_TOKEN"
    );

    let missing = OnboardingClient::new(gw.channel.clone())
        .get_status(pb::GetStatusRequest {})
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated);

    // And a good token still works (the cache holds no refusal).
    let status = OnboardingClient::new(gw.channel.clone())
        .get_status(s.request(pb::GetStatusRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.merchant_id, m.id);
}

#[tokio::test]
async fn roles_are_kept_apart() {
    let redis = RedisServer::start();
    let gw = TestGateway::on_redis(&redis).await;
    let m = gw.merchant().await;
    let mut as_merchant = gw.operator();
    as_merchant.token = m.token("live");
    let err = as_merchant
        .set_stage(&m.id, pb::Stage::Production, "self-promotion")
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Code::Unauthenticated,
        "a merchant key does not verify as the operator"
    );
    let operator_on_orders = m
        .sandbox()
        .with_bearer(gw.operator().token)
        .get("whatever-1")
        .await
        .unwrap_err();
    assert_eq!(operator_on_orders.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn another_merchants_orders_are_not_found() {
    let redis = RedisServer::start();
    let gw = TestGateway::on_redis(&redis).await;
    let (a, b) = (gw.merchant().await, gw.merchant().await);
    let (sa, sb) = (a.sandbox(), b.sandbox());
    sa.authorize(authorize("mine-0001", "sbx_lee", 9_900, false))
        .await
        .unwrap();

    for err in [
        sb.get("mine-0001").await.unwrap_err(),
        sb.cancel("mine-0001", "hostile").await.unwrap_err(),
        sb.complete(bill("mine-0001", 100)).await.unwrap_err(),
        sb.deduct("mine-0001").await.unwrap_err(),
        sb.simulate("mine-0001", pb::UserAction::Confirm)
            .await
            .unwrap_err(),
    ] {
        assert_eq!(
            (err.code(), reason(&err).as_str()),
            (Code::NotFound, "ORDER_NOT_FOUND")
        );
    }
    // B's own order with the same number is B's alone.
    let theirs = sb
        .authorize(authorize("mine-0001", "sbx_lee", 9_900, false))
        .await
        .unwrap();
    assert_eq!(theirs.order.unwrap().merchant_id, b.id);
    assert_eq!(sa.get("mine-0001").await.unwrap().merchant_id, a.id);
    assert_eq!(
        sa.get("mine-0001").await.unwrap().state(),
        pb::OrderState::Authorized
    );
}
