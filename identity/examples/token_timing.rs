// SPDX-License-Identifier: Apache-2.0
//! Times token issue and validation the way `identity/benches/keystone_fernet.py` times
//! Keystone's formatter (best of 5 runs of 1000 calls, a project-scoped password token, a key
//! repository of 3 keys after one rotation), so `scripts/identity/side_by_side.sh` can print
//! the ratio of one run. The criterion bench (`benches/tokens.rs`) is the statistical view.
//!
//! ```text
//! cargo run --release -p ferrostack-identity --example token_timing
//! ```

use ferrostack_identity::fernet::KeyRepository;
use ferrostack_identity::token::{PayloadScope, TokenFormatter, TokenPayload, new_audit_id};
use std::hint::black_box;
use std::time::Instant;

fn best_of_5(mut f: impl FnMut()) -> f64 {
    (0..5)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..1000 {
                f();
            }
            start.elapsed().as_secs_f64() / 1000.0
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let repo = KeyRepository::new(dir.path().join("keys"), 3);
    repo.setup().expect("key repository");
    repo.rotate().expect("rotation");
    let formatter = TokenFormatter::new(repo.load().expect("keys"), "default");
    let payload = TokenPayload {
        user_id: "0123456789abcdef0123456789abcdef".into(),
        methods: vec!["password".into()],
        scope: PayloadScope::Project("fedcba9876543210fedcba9876543210".into()),
        expires_at: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        audit_ids: vec![new_audit_id()],
        issued_at: time::OffsetDateTime::now_utc(),
    };
    let token = formatter.issue(&payload).expect("issue");
    let issue = best_of_5(|| {
        black_box(formatter.issue(black_box(&payload)).expect("issue"));
    });
    let validate = best_of_5(|| {
        black_box(formatter.read(black_box(&token)).expect("validate"));
    });
    println!("ferrostack/token/issue: {:.2} us", issue * 1e6);
    println!("ferrostack/token/validate: {:.2} us", validate * 1e6);
}
