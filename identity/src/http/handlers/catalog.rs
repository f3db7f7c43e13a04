// SPDX-License-Identifier: Apache-2.0
//! `/v3/regions`, `/v3/services` and `/v3/endpoints`.

use super::*;

// ----- regions, services, endpoints -----

pub async fn create_region(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let m = section(&body, "region")?;
    let r = Region {
        id: opt_str(m, "id")?.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()),
        description: opt_str(m, "description")?.unwrap_or_default(),
        parent_region_id: opt_str(m, "parent_region_id")?,
    };
    let r = st.api.create_region(&ctx, r).await.map_err(e)?;
    Ok(ok(StatusCode::CREATED, json!({"region": render::region(&st.base, &r)})))
}

pub async fn get_region(State(st): State<ApiState>, Ctx(ctx): Ctx, Path(id): Path<String>) -> R {
    let r = st.api.get_region(&ctx, &id).await.map_err(e)?;
    Ok(ok(StatusCode::OK, json!({"region": render::region(&st.base, &r)})))
}

pub async fn list_regions(State(st): State<ApiState>, Ctx(ctx): Ctx) -> R {
    let rs = st.api.list_regions(&ctx).await.map_err(e)?;
    Ok(collection(&st, "regions", "regions", &rs, render::region))
}

pub async fn update_region(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let m = section(&body, "region")?;
    let patch = RegionPatch {
        description: opt_str(m, "description")?,
        parent_region_id: if m.contains_key("parent_region_id") {
            Some(opt_str(m, "parent_region_id")?)
        } else {
            None
        },
    };
    let r = st.api.update_region(&ctx, &id, patch).await.map_err(e)?;
    Ok(ok(StatusCode::OK, json!({"region": render::region(&st.base, &r)})))
}

pub async fn delete_region(State(st): State<ApiState>, Ctx(ctx): Ctx, Path(id): Path<String>) -> R {
    st.api.delete_region(&ctx, &id).await.map_err(e)?;
    Ok(no_content())
}

pub async fn create_service(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let m = section(&body, "service")?;
    let s = Service {
        id: uuid::Uuid::new_v4().simple().to_string(),
        service_type: req_str(m, "type")?,
        name: opt_str(m, "name")?.unwrap_or_default(),
        description: opt_str(m, "description")?.unwrap_or_default(),
        enabled: opt_bool(m, "enabled")?.unwrap_or(true),
    };
    let s = st.api.create_service(&ctx, s).await.map_err(e)?;
    Ok(ok(StatusCode::CREATED, json!({"service": render::service(&st.base, &s)})))
}

pub async fn get_service(State(st): State<ApiState>, Ctx(ctx): Ctx, Path(id): Path<String>) -> R {
    let s = st.api.get_service(&ctx, &id).await.map_err(e)?;
    Ok(ok(StatusCode::OK, json!({"service": render::service(&st.base, &s)})))
}

pub async fn list_services(State(st): State<ApiState>, Ctx(ctx): Ctx, Query(q): Q) -> R {
    let mut ss = st.api.list_services(&ctx, &filter_of(&q)?).await.map_err(e)?;
    if let Some(t) = q.get("type") {
        ss.retain(|s| &s.service_type == t);
    }
    Ok(collection(&st, "services", "services", &ss, render::service))
}

pub async fn update_service(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let m = section(&body, "service")?;
    let patch = ServicePatch {
        service_type: opt_str(m, "type")?,
        name: opt_str(m, "name")?,
        description: opt_str(m, "description")?,
        enabled: opt_bool(m, "enabled")?,
    };
    let s = st.api.update_service(&ctx, &id, patch).await.map_err(e)?;
    Ok(ok(StatusCode::OK, json!({"service": render::service(&st.base, &s)})))
}

pub async fn delete_service(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> R {
    st.api.delete_service(&ctx, &id).await.map_err(e)?;
    Ok(no_content())
}

fn interface(s: &str) -> Result<Interface, ApiError> {
    Interface::parse(s).ok_or_else(|| {
        bad("Invalid input for field 'interface': must be public, internal or admin.")
    })
}

pub async fn create_endpoint(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let m = section(&body, "endpoint")?;
    let ep = Endpoint {
        id: uuid::Uuid::new_v4().simple().to_string(),
        service_id: req_str(m, "service_id")?,
        interface: interface(&req_str(m, "interface")?)?,
        region_id: match opt_str(m, "region_id")? {
            Some(r) => Some(r),
            None => opt_str(m, "region")?,
        },
        url: req_str(m, "url")?,
        enabled: opt_bool(m, "enabled")?.unwrap_or(true),
    };
    let ep = st.api.create_endpoint(&ctx, ep).await.map_err(e)?;
    Ok(ok(StatusCode::CREATED, json!({"endpoint": render::endpoint(&st.base, &ep)})))
}

pub async fn get_endpoint(State(st): State<ApiState>, Ctx(ctx): Ctx, Path(id): Path<String>) -> R {
    let ep = st.api.get_endpoint(&ctx, &id).await.map_err(e)?;
    Ok(ok(StatusCode::OK, json!({"endpoint": render::endpoint(&st.base, &ep)})))
}

pub async fn list_endpoints(State(st): State<ApiState>, Ctx(ctx): Ctx, Query(q): Q) -> R {
    let mut eps = st.api.list_endpoints(&ctx).await.map_err(e)?;
    if let Some(s) = q.get("service_id") {
        eps.retain(|x| &x.service_id == s);
    }
    if let Some(i) = q.get("interface") {
        eps.retain(|x| x.interface.as_str() == i);
    }
    if let Some(r) = q.get("region_id") {
        eps.retain(|x| x.region_id.as_ref() == Some(r));
    }
    Ok(collection(&st, "endpoints", "endpoints", &eps, render::endpoint))
}

pub async fn update_endpoint(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let m = section(&body, "endpoint")?;
    let patch = EndpointPatch {
        service_id: opt_str(m, "service_id")?,
        interface: opt_str(m, "interface")?.map(|i| interface(&i)).transpose()?,
        url: opt_str(m, "url")?,
        region_id: if m.contains_key("region_id") { Some(opt_str(m, "region_id")?) } else { None },
        enabled: opt_bool(m, "enabled")?,
    };
    let ep = st.api.update_endpoint(&ctx, &id, patch).await.map_err(e)?;
    Ok(ok(StatusCode::OK, json!({"endpoint": render::endpoint(&st.base, &ep)})))
}

pub async fn delete_endpoint(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> R {
    st.api.delete_endpoint(&ctx, &id).await.map_err(e)?;
    Ok(no_content())
}
