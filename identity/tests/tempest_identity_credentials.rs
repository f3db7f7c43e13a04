// SPDX-License-Identifier: Apache-2.0
//! tempest's application credential, EC2 credential and (admin) credential tests
//! (venv-tempest, pinned by `scripts/test-env/tempest.sh`) against the identity API on a
//! loopback port, with pre-provisioned member accounts (no admin credentials, as in the
//! reference's "tempest against an arbitrary endpoint").

mod common;

const TESTS: &str = r"^tempest\.api\.identity\.(admin\.)?v3\.(test_application_credentials|test_ec2_credentials|test_credentials)\.";
/// Access rules are not supported (tempest skips that test with `access_rules = False`); the
/// admin application credential test needs tempest's dynamic credentials (it asks for a
/// fresh project-scoped primary next to the admin), which this pre-provisioned setup lacks.
const KNOWN_GAPS: &str =
    r"test_create_application_credential_access_rules|admin\.v3\.test_application_credentials";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tempest_identity_v3_credentials() {
    common::Tempest {
        test: "tempest_identity_v3_credentials",
        tests: TESTS,
        known_gaps: KNOWN_GAPS,
        admin: true,
        min_passed: 10,
    }
    .run()
    .await;
}
