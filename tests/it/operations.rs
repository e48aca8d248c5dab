//! What operators rely on: health, reflection, refusing bad configuration
//! before binding, and payscorectl against a running gateway.

use std::process::Command;

use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::harness::*;

#[tokio::test]
async fn health_and_reflection_answer_without_a_token() {
    let gw = TestGateway::start(Options::default()).await;
    let mut health = HealthClient::new(gw.channel.clone());
    for service in [
        "payscore.v1.Orders",
        "payscore.v1.Onboarding",
        "payscore.v1.Operations",
    ] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status();
        assert_eq!(status, ServingStatus::Serving, "{service}");
    }

    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = ServerReflectionClient::new(gw.channel.clone())
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        responses.message().await.unwrap().unwrap().message_response
    else {
        panic!("expected a service list");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "payscore.v1.Orders",
        "payscore.v1.Onboarding",
        "payscore.v1.Sandbox",
        "payscore.v1.Operations",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
}

#[test]
fn bad_configuration_exits_64_before_binding() {
    let cases = [
        (
            "PAYSCORE__SERVER__LISTEN",
            "not-an-address",
            "server.listen",
        ),
        (
            "PAYSCORE__STORE__REDIS_URL",
            "http://wrong",
            "store.redis_url",
        ),
        (
            "PAYSCORE__AUTH__OPERATOR_PUBLIC_KEY_FILE",
            "/nonexistent/operator.pem",
            "operator_public_key_file",
        ),
        ("PAYSCORE__SERVER__NO_SUCH_KEY", "1", "unknown field"),
    ];
    for (var, value, mentioned) in cases {
        let home = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_payscore-gateway"))
            .env("HOME", home.path())
            .env(var, value)
            .output()
            .expect("run the gateway");
        assert_eq!(out.status.code(), Some(64), "{var}={value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(mentioned), "{var}: {stderr}");
        assert!(
            !home.path().join(".payscore").exists(),
            "nothing done before validation"
        );
    }
}

fn payscorectl(gw: &TestGateway, home: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_payscorectl"))
        .arg("--addr")
        .arg(&gw.addr)
        .arg("--home")
        .arg(home)
        .args(args)
        .output()
        .expect("run payscorectl");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "payscorectl {args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread")]
async fn payscorectl_demo_reaches_paid() {
    let redis = RedisServer::start();
    let gw = TestGateway::on_redis(&redis).await;
    let home = tempfile::tempdir().unwrap();
    let gw_ref = &gw;
    let stdout = tokio::task::block_in_place(|| payscorectl(gw_ref, home.path(), &["demo"]));
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("7. get order") && last.contains("state=PAID"),
        "{stdout}"
    );
    assert!(last.contains("paid=800 fen"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn payscorectl_imports_scores_and_promotes() {
    let redis = RedisServer::start();
    let gw = TestGateway::on_redis(&redis).await;
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("operator.pem"), &gw.operator_private_pem).unwrap();
    let csv = home.path().join("scores.csv");
    std::fs::write(
        &csv,
        "openid,score,enrolled\nzoe,710,true\nyan,580,false\nbad,999,true\n",
    )
    .unwrap();
    let csv_arg = csv.to_str().unwrap().to_owned();
    let gw_ref = &gw;
    let imported = tokio::task::block_in_place(|| {
        payscorectl(gw_ref, home.path(), &["import-scores", &csv_arg])
    });
    assert!(imported.starts_with("imported 2 rejected 1"), "{imported}");
    let zoe = gw.operator().get_user("zoe").await.unwrap();
    assert_eq!((zoe.score, zoe.enrolled), (710, true));

    let (private, _) = payscore_gateway::auth::token::generate_key_pair();
    let key = home.path().join("merchant.pem");
    std::fs::write(&key, private).unwrap();
    let key_arg = key.to_str().unwrap().to_owned();
    let applied = tokio::task::block_in_place(|| {
        payscorectl(
            gw_ref,
            home.path(),
            &[
                "apply",
                "--name",
                "Bikes",
                "--icp",
                "粤ICP备2021012345号-1",
                "--key",
                &key_arg,
                "--notify-url",
                "https://bikes.example/notify",
            ],
        )
    });
    let merchant_id = applied
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("merchant_id:")
        .trim()
        .to_owned();
    let promoted = tokio::task::block_in_place(|| {
        payscorectl(
            gw_ref,
            home.path(),
            &[
                "set-stage",
                "--merchant-id",
                &merchant_id,
                "--stage",
                "production",
                "--reason",
                "certified",
            ],
        )
    });
    assert_eq!(promoted.trim(), format!("{merchant_id}: STAGE_PRODUCTION"));
    let token = tokio::task::block_in_place(|| {
        payscorectl(gw_ref, home.path(), &["token", "merchant", "--env", "live"])
    });
    tokio::task::block_in_place(|| {
        payscorectl(
            gw_ref,
            home.path(),
            &[
                "service",
                "--id",
                "bike",
                "--name",
                "单车",
                "--max-risk-fund",
                "19900",
            ],
        )
    });
    let live = Session::for_token(&gw, token.trim());
    let mut request = authorize("bike-0001", "zoe", 19_900, true);
    request.service_id = "bike".into();
    let approved = live.authorize(request).await.unwrap();
    assert_eq!(
        approved.decision(),
        payscore_gateway::pb::v1::Decision::Approved
    );
}
