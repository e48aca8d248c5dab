//! Canary sampling: a user's bucket is a hash of (merchant, openid), so a
//! user's membership is sticky and raising the percentage keeps everyone in.

use sha2::{Digest, Sha256};

/// Buckets per merchant: percent × 100 of them are admitted.
const BUCKETS: u64 = 10_000;

pub fn bucket(merchant_id: &str, openid: &str) -> u64 {
    let digest = Sha256::new()
        .chain_update(merchant_id.as_bytes())
        .chain_update([0u8])
        .chain_update(openid.as_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) % BUCKETS
}

pub fn in_sample(merchant_id: &str, openid: &str, percent: u32) -> bool {
    bucket(merchant_id, openid) < u64::from(percent.min(100)) * (BUCKETS / 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_the_sample_keeps_users_in() {
        let users: Vec<String> = (0..2_000).map(|i| format!("user{i}")).collect();
        let at = |p| {
            users
                .iter()
                .filter(|u| in_sample("m1", u, p))
                .cloned()
                .collect::<Vec<_>>()
        };
        let (ten, thirty) = (at(10), at(30));
        assert!(ten.iter().all(|u| thirty.contains(u)));
        // Roughly the asked share: 10 % of 2 000 is 200.
        assert!((120..280).contains(&ten.len()), "{}", ten.len());
        assert_eq!(at(100).len(), 2_000);
        assert!(at(0).is_empty());
    }

    #[test]
    fn merchants_sample_independently() {
        let differ = (0..500)
            .map(|i| format!("user{i}"))
            .filter(|u| in_sample("m1", u, 50) != in_sample("m2", u, 50))
            .count();
        assert!(differ > 100, "{differ}");
    }
}
