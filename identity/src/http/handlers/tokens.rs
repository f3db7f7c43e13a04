// SPDX-License-Identifier: Apache-2.0
//! `/v3/auth/tokens` (issue, validate, check, revoke) and the `/v3/auth/*` views of a token.

use super::*;

// ----- auth -----

fn domain_ref(v: &Value) -> Result<DomainRef, ApiError> {
    let m = v.as_object().ok_or_else(|| bad("Invalid input for field 'domain'."))?;
    if let Some(id) = opt_str(m, "id")? {
        Ok(DomainRef::Id(id))
    } else if let Some(name) = opt_str(m, "name")? {
        Ok(DomainRef::Name(name))
    } else {
        Err(bad("Expecting to find id or name in domain."))
    }
}

fn parse_auth(body: &Value) -> Result<AuthRequest, ApiError> {
    let auth = section(body, "auth")?;
    let identity = auth
        .get("identity")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("Expecting to find identity in auth."))?;
    let methods: Vec<&str> = identity
        .get("methods")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("Expecting to find methods in identity."))?
        .iter()
        .map(|m| m.as_str().ok_or_else(|| bad("Invalid input for field 'methods'.")))
        .collect::<Result<_, _>>()?;
    let method = if methods.contains(&"application_credential") {
        let ac = identity
            .get("application_credential")
            .and_then(Value::as_object)
            .ok_or_else(|| bad("Expecting to find application_credential in identity."))?;
        if auth.get("scope").is_some() {
            return Err(ApiError::new(
                ferrostack_core::ErrorKind::Unauthenticated,
                "Error authenticating with application credential: Application credentials cannot request a scope.",
            ));
        }
        let secret = opt_str(ac, "secret")?.unwrap_or_default();
        let credential = if let Some(id) = opt_str(ac, "id")? {
            AppCredRef::Id(id)
        } else if let Some(name) = opt_str(ac, "name")? {
            let u = ac
                .get("user")
                .and_then(Value::as_object)
                .ok_or_else(|| bad("Expecting to find user in application credential."))?;
            let user = if let Some(id) = opt_str(u, "id")? {
                UserRef::Id(id)
            } else {
                let name = opt_str(u, "name")?
                    .ok_or_else(|| bad("Expecting to find id or name in user."))?;
                let d = u.get("domain").ok_or_else(|| bad("Expecting to find domain in user."))?;
                UserRef::Name { name, domain: domain_ref(d)? }
            };
            AppCredRef::Name { name, user }
        } else {
            return Err(bad("Expecting to find name or ID in application credential."));
        };
        AuthMethod::ApplicationCredential { credential, secret }
    } else if methods.contains(&"password") {
        let pw = identity
            .get("password")
            .and_then(|p| p.get("user"))
            .and_then(Value::as_object)
            .ok_or_else(|| bad("Expecting to find user in password."))?;
        let password = req_str(pw, "password")?;
        let user = if let Some(id) = opt_str(pw, "id")? {
            UserRef::Id(id)
        } else {
            let name =
                opt_str(pw, "name")?.ok_or_else(|| bad("Expecting to find id or name in user."))?;
            let domain =
                pw.get("domain").ok_or_else(|| bad("Expecting to find domain in user."))?;
            UserRef::Name { name, domain: domain_ref(domain)? }
        };
        AuthMethod::Password { user, password }
    } else if methods.contains(&"token") {
        let id = identity
            .get("token")
            .and_then(Value::as_object)
            .ok_or_else(|| bad("Expecting to find token in identity."))?;
        AuthMethod::Token(req_str(id, "id")?)
    } else {
        return Err(ApiError::new(
            ferrostack_core::ErrorKind::Unauthenticated,
            "Attempted to authenticate with an unsupported method.",
        ));
    };
    let scope = match auth.get("scope") {
        None | Some(Value::Null) => ScopeRequest::Default,
        Some(Value::String(s)) if s == "unscoped" => ScopeRequest::Unscoped,
        Some(Value::Object(s)) => {
            if let Some(p) = s.get("project") {
                let m = p.as_object().ok_or_else(|| bad("Invalid input for field 'project'."))?;
                if let Some(id) = opt_str(m, "id")? {
                    ScopeRequest::Project(ProjectRef::Id(id))
                } else {
                    let name = opt_str(m, "name")?
                        .ok_or_else(|| bad("Expecting to find id or name in project."))?;
                    let d = m
                        .get("domain")
                        .ok_or_else(|| bad("Expecting to find domain in project."))?;
                    ScopeRequest::Project(ProjectRef::Name { name, domain: domain_ref(d)? })
                }
            } else if let Some(d) = s.get("domain") {
                ScopeRequest::Domain(domain_ref(d)?)
            } else if let Some(sys) = s.get("system") {
                if sys.get("all") == Some(&Value::Bool(true)) {
                    ScopeRequest::System
                } else {
                    return Err(bad("Invalid input for field 'system'."));
                }
            } else if s.contains_key("OS-TRUST:trust") {
                return Err(ApiError::new(
                    ferrostack_core::ErrorKind::NotSupported,
                    "Trusts are not supported.",
                ));
            } else {
                return Err(bad("Invalid input for field 'scope'."));
            }
        }
        Some(_) => return Err(bad("Invalid input for field 'scope'.")),
    };
    Ok(AuthRequest { method, scope })
}

fn subject(headers: &HeaderMap) -> Result<String, ApiError> {
    headers
        .get(X_SUBJECT_TOKEN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| bad("Expecting to find X-Subject-Token in the request headers."))
}

pub async fn issue_token(State(st): State<ApiState>, q: Q, JsonBody(body): JsonBody<Value>) -> R {
    let req = parse_auth(&body)?;
    let info = st.api.authenticate(req).await.map_err(e)?;
    let body = render::token(&info, !q.contains_key("nocatalog"));
    Ok(with_subject(ok(StatusCode::CREATED, body), &info.token))
}

pub async fn validate_token(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    q: Q,
    headers: HeaderMap,
) -> R {
    let subject = subject(&headers)?;
    let info = st.api.validate_token(&ctx, &subject, flag(&q, "allow_expired")).await.map_err(e)?;
    let body = render::token(&info, !q.contains_key("nocatalog"));
    Ok(with_subject(ok(StatusCode::OK, body), &info.token))
}

pub async fn check_token(State(st): State<ApiState>, Ctx(ctx): Ctx, q: Q, headers: HeaderMap) -> R {
    let subject = subject(&headers)?;
    st.api.validate_token(&ctx, &subject, flag(&q, "allow_expired")).await.map_err(e)?;
    Ok(with_subject(StatusCode::OK.into_response(), &subject))
}

pub async fn revoke_token(State(st): State<ApiState>, Ctx(ctx): Ctx, headers: HeaderMap) -> R {
    let subject = subject(&headers)?;
    st.api.revoke_token(&ctx, &subject).await.map_err(e)?;
    Ok(no_content())
}

pub async fn auth_catalog(State(st): State<ApiState>, Ctx(ctx): Ctx) -> R {
    let c = st.api.auth_catalog(&ctx).await.map_err(e)?;
    Ok(ok(
        StatusCode::OK,
        json!({"catalog": render::catalog(&c), "links": list_links(&st, "auth/catalog")}),
    ))
}

pub async fn auth_projects(State(st): State<ApiState>, Ctx(ctx): Ctx) -> R {
    let ps = st.api.auth_projects(&ctx).await.map_err(e)?;
    Ok(collection(&st, "projects", "auth/projects", &ps, render::project))
}

pub async fn auth_domains(State(st): State<ApiState>, Ctx(ctx): Ctx) -> R {
    let ds = st.api.auth_domains(&ctx).await.map_err(e)?;
    Ok(collection(&st, "domains", "auth/domains", &ds, render::domain))
}

pub async fn auth_system(State(st): State<ApiState>, Ctx(ctx): Ctx) -> R {
    let sys = st.api.auth_system(&ctx).await.map_err(e)?;
    let v = if sys { json!([{"all": true}]) } else { json!([]) };
    Ok(ok(StatusCode::OK, json!({"system": v, "links": list_links(&st, "auth/system")})))
}
