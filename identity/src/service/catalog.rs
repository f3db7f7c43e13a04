// SPDX-License-Identifier: Apache-2.0
//! The service catalog: regions, services, endpoints, and the catalog a token carries.

use super::*;

impl IdentityService {
    pub(super) async fn build_catalog(
        &self,
        project_id: Option<&str>,
    ) -> Result<Vec<CatalogEntry>> {
        let services = self.services.list_all().await?;
        let endpoints = self.endpoints.list_all().await?;
        let mut out = Vec::new();
        for s in services.into_iter().map(|v| v.value).filter(|s| s.enabled) {
            let mut eps = Vec::new();
            for e in
                endpoints.iter().map(|v| &v.value).filter(|e| e.enabled && e.service_id == s.id)
            {
                let needs_project =
                    e.url.contains("$(project_id)s") || e.url.contains("$(tenant_id)s");
                let url = match (needs_project, project_id) {
                    (false, _) => e.url.clone(),
                    (true, Some(p)) => {
                        e.url.replace("$(project_id)s", p).replace("$(tenant_id)s", p)
                    }
                    (true, None) => continue,
                };
                eps.push(CatalogEndpoint {
                    id: e.id.clone(),
                    interface: e.interface.as_str().to_owned(),
                    region: e.region_id.clone(),
                    region_id: e.region_id.clone(),
                    url,
                });
            }
            out.push(CatalogEntry {
                id: s.id,
                service_type: s.service_type,
                name: s.name,
                endpoints: eps,
            });
        }
        Ok(out)
    }

    pub(super) async fn region_create(
        &self,
        ctx: &RequestContext,
        region: Region,
    ) -> Result<Region> {
        self.authorize("identity:create_region", ctx, &json!({"target": {"region": region}}))?;
        if let Some(parent) = &region.parent_region_id
            && self.regions.get(parent).await?.is_none()
        {
            return Err(IdentityError::Validation(format!(
                "Could not find parent region: {parent}."
            )));
        }
        self.regions.create(&region.id, &region).await.map_err(|e| match e {
            ferrostack_core::store::StoreError::AlreadyExists(_) => {
                IdentityError::duplicate("region", "id", &region.id)
            }
            other => other.into(),
        })?;
        Ok(region)
    }

    pub(super) async fn region_get(&self, ctx: &RequestContext, id: &str) -> Result<Region> {
        self.authorize("identity:get_region", ctx, &json!({}))?;
        self.regions
            .get(id)
            .await?
            .map(|v| v.value)
            .ok_or_else(|| IdentityError::not_found("region", id))
    }

    pub(super) async fn region_list(&self, ctx: &RequestContext) -> Result<Vec<Region>> {
        self.authorize("identity:list_regions", ctx, &json!({}))?;
        Ok(self.regions.list_all().await?.into_iter().map(|v| v.value).collect())
    }

    pub(super) async fn region_update(
        &self,
        ctx: &RequestContext,
        id: &str,
        patch: RegionPatch,
    ) -> Result<Region> {
        self.authorize("identity:update_region", ctx, &json!({}))?;
        let v = self
            .regions
            .update_with::<IdentityError, _>(id, |r| {
                if let Some(x) = &patch.description {
                    r.description = x.clone();
                }
                if let Some(x) = &patch.parent_region_id {
                    r.parent_region_id = x.clone();
                }
                Ok(())
            })
            .await
            .map_err(|e| match e {
                IdentityError::NotFound { .. } => IdentityError::not_found("region", id),
                other => other,
            })?;
        self.changed();
        Ok(v.value)
    }

    pub(super) async fn region_delete(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        self.authorize("identity:delete_region", ctx, &json!({}))?;
        if !self.regions.delete(id).await? {
            return Err(IdentityError::not_found("region", id));
        }
        self.changed();
        Ok(())
    }

    pub(super) async fn service_create(
        &self,
        ctx: &RequestContext,
        service: Service,
    ) -> Result<Service> {
        self.authorize("identity:create_service", ctx, &json!({}))?;
        if service.service_type.is_empty() || service.service_type.len() > 255 {
            return Err(IdentityError::Validation("Invalid input for field 'type'.".into()));
        }
        self.services.create(&service.id, &service).await?;
        self.changed();
        Ok(service)
    }

    pub(super) async fn service_get(&self, ctx: &RequestContext, id: &str) -> Result<Service> {
        self.authorize("identity:get_service", ctx, &json!({}))?;
        self.services
            .get(id)
            .await?
            .map(|v| v.value)
            .ok_or_else(|| IdentityError::not_found("service", id))
    }

    pub(super) async fn service_list(
        &self,
        ctx: &RequestContext,
        filter: &ListFilter,
    ) -> Result<Vec<Service>> {
        self.authorize("identity:list_services", ctx, &json!({}))?;
        self.list_filtered(&self.services, |s| filter.name.as_deref().is_none_or(|n| n == s.name))
            .await
    }

    pub(super) async fn service_update(
        &self,
        ctx: &RequestContext,
        id: &str,
        patch: ServicePatch,
    ) -> Result<Service> {
        self.authorize("identity:update_service", ctx, &json!({}))?;
        let v = self
            .services
            .update_with::<IdentityError, _>(id, |s| {
                if let Some(x) = &patch.service_type {
                    s.service_type = x.clone();
                }
                if let Some(x) = &patch.name {
                    s.name = x.clone();
                }
                if let Some(x) = &patch.description {
                    s.description = x.clone();
                }
                if let Some(x) = patch.enabled {
                    s.enabled = x;
                }
                Ok(())
            })
            .await
            .map_err(|e| match e {
                IdentityError::NotFound { .. } => IdentityError::not_found("service", id),
                other => other,
            })?;
        self.changed();
        Ok(v.value)
    }

    pub(super) async fn service_delete(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        self.authorize("identity:delete_service", ctx, &json!({}))?;
        if !self.services.delete(id).await? {
            return Err(IdentityError::not_found("service", id));
        }
        for e in self.endpoints.list_all().await? {
            if e.value.service_id == id {
                self.endpoints.delete(&e.id).await?;
            }
        }
        self.changed();
        Ok(())
    }

    pub(super) async fn endpoint_create(
        &self,
        ctx: &RequestContext,
        endpoint: Endpoint,
    ) -> Result<Endpoint> {
        self.authorize("identity:create_endpoint", ctx, &json!({}))?;
        if self.services.get(&endpoint.service_id).await?.is_none() {
            return Err(IdentityError::Validation(format!(
                "Could not find service: {}.",
                endpoint.service_id
            )));
        }
        if let Some(r) = &endpoint.region_id
            && self.regions.get(r).await?.is_none()
        {
            return Err(IdentityError::Validation(format!("Could not find region: {r}.")));
        }
        if !(endpoint.url.starts_with("http://") || endpoint.url.starts_with("https://")) {
            return Err(IdentityError::Validation("Invalid input for field 'url'.".into()));
        }
        self.endpoints.create(&endpoint.id, &endpoint).await?;
        self.changed();
        Ok(endpoint)
    }

    pub(super) async fn endpoint_get(&self, ctx: &RequestContext, id: &str) -> Result<Endpoint> {
        self.authorize("identity:get_endpoint", ctx, &json!({}))?;
        self.endpoints
            .get(id)
            .await?
            .map(|v| v.value)
            .ok_or_else(|| IdentityError::not_found("endpoint", id))
    }

    pub(super) async fn endpoint_list(&self, ctx: &RequestContext) -> Result<Vec<Endpoint>> {
        self.authorize("identity:list_endpoints", ctx, &json!({}))?;
        Ok(self.endpoints.list_all().await?.into_iter().map(|v| v.value).collect())
    }

    pub(super) async fn endpoint_update(
        &self,
        ctx: &RequestContext,
        id: &str,
        patch: EndpointPatch,
    ) -> Result<Endpoint> {
        self.authorize("identity:update_endpoint", ctx, &json!({}))?;
        let v = self
            .endpoints
            .update_with::<IdentityError, _>(id, |e| {
                if let Some(x) = &patch.service_id {
                    e.service_id = x.clone();
                }
                if let Some(x) = patch.interface {
                    e.interface = x;
                }
                if let Some(x) = &patch.url {
                    e.url = x.clone();
                }
                if let Some(x) = &patch.region_id {
                    e.region_id = x.clone();
                }
                if let Some(x) = patch.enabled {
                    e.enabled = x;
                }
                Ok(())
            })
            .await
            .map_err(|e| match e {
                IdentityError::NotFound { .. } => IdentityError::not_found("endpoint", id),
                other => other,
            })?;
        self.changed();
        Ok(v.value)
    }

    pub(super) async fn endpoint_delete(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        self.authorize("identity:delete_endpoint", ctx, &json!({}))?;
        if !self.endpoints.delete(id).await? {
            return Err(IdentityError::not_found("endpoint", id));
        }
        self.changed();
        Ok(())
    }
}
