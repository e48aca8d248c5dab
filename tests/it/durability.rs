//! No Redis: calls fail closed with UNAVAILABLE. Redis back (AOF on): every
//! acknowledged order is there.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use payscore_gateway::pb::v1::OrderState;
use tonic::Code;

use crate::harness::*;

#[tokio::test]
async fn redis_killed_mid_run_loses_no_acknowledged_order() {
    let mut redis = RedisServer::start();
    let gw = TestGateway::on_redis(&redis).await;
    let s = gw.merchant().await.sandbox();

    // A writer that keeps authorizing and remembers what was acknowledged.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (s, stop) = (s.clone(), stop.clone());
        tokio::spawn(async move {
            let (mut acked, mut refused) = (Vec::new(), Vec::new());
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let out_order_no = format!("dur-{n:05}");
                // Each order has its own user: the 3-unfinished limit is not under test.
                let openid = format!("sbx_user{n}");
                match s
                    .authorize(authorize(&out_order_no, &openid, 1_000, true))
                    .await
                {
                    Ok(_) => acked.push(out_order_no),
                    Err(status) => refused.push((out_order_no, status)),
                }
            }
            (acked, refused)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    redis.kill();

    // With Redis gone, calls fail closed and say when to retry.
    let down = s
        .authorize(authorize("dur-down1", "sbx_down", 1_000, true))
        .await
        .unwrap_err();
    assert_eq!(down.code(), Code::Unavailable);
    assert_eq!(reason(&down), "STORE_UNAVAILABLE");
    assert!(retry_delay(&down).is_some());
    tokio::time::sleep(Duration::from_millis(300)).await;

    redis.restart();
    // The connection comes back by itself.
    let mut back = false;
    for _ in 0..100 {
        if s.get("dur-00001").await.is_ok() {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "the gateway reconnects after Redis returns");
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::SeqCst);
    let (acked, refused) = writer.await.unwrap();

    assert!(
        acked.len() > 10,
        "the writer made progress: {}",
        acked.len()
    );
    assert!(!refused.is_empty(), "some calls met the outage");
    for (_, status) in &refused {
        assert!(
            matches!(status.code(), Code::Unavailable),
            "a refused call says UNAVAILABLE, got {status:?}"
        );
    }
    for out_order_no in &acked {
        let order = s
            .get(out_order_no)
            .await
            .unwrap_or_else(|e| panic!("{out_order_no} lost: {e:?}"));
        assert_eq!(order.state(), OrderState::Created);
    }
}
