// SPDX-License-Identifier: Apache-2.0
//! [`Client`]: [`NetworkApi`] over Neutron's v2.0 REST API.

use crate::api::{NetworkApi, QuotaDetail};
use crate::error::{NetworkError, Result};
use crate::types::*;
use ferrostack_core::RequestContext;
use ferrostack_core::http::client::{ClientError, ServiceClient};
use ferrostack_core::id::{NetworkId, PortId, ProjectId, RouterId, SubnetId};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// A remote Neutron: every [`NetworkApi`] operation as the request [`super::router`] serves
/// (ours, or a real Neutron's v2.0 API), with the caller's token.
///
/// `base` is the endpoint without the version, as the catalog lists it
/// (`http://controller:9696`, or `http://host/network` for a Ferrostack cloud). A remote fault
/// comes back as [`NetworkError::Remote`] with the server's kind, message and Neutron type, so a
/// caller sees the same error as from the local service; a call that gets no answer is
/// [`NetworkError::Client`].
///
/// Lists return every resource the caller may see (no `limit`), as the trait promises.
#[derive(Debug, Clone)]
pub struct Client {
    http: ServiceClient,
}

impl Client {
    /// A client of the Neutron endpoint at `base`.
    pub fn new(base: impl Into<String>) -> Self {
        Client { http: ServiceClient::new(base) }
    }

    /// A client over a configured [`ServiceClient`] (a token source for contexts without a
    /// token, extra headers, a shared connection pool).
    pub fn with_service_client(http: ServiceClient) -> Self {
        Client { http }
    }

    /// The underlying HTTP client.
    pub fn service_client(&self) -> &ServiceClient {
        &self.http
    }

    async fn get_one<T: DeserializeOwned>(
        &self,
        ctx: &RequestContext,
        path: &str,
        key: &str,
    ) -> Result<T> {
        let v: Value = self.http.get(ctx, path).await?;
        self.unwrap(path, v, key)
    }

    async fn create<B: Serialize, T: DeserializeOwned>(
        &self,
        ctx: &RequestContext,
        path: &str,
        key: &str,
        body: &B,
    ) -> Result<T> {
        let v: Value = self.http.post(ctx, path, &wrap(key, body)?).await?;
        self.unwrap(path, v, key)
    }

    async fn update<B: Serialize, T: DeserializeOwned>(
        &self,
        ctx: &RequestContext,
        path: &str,
        key: &str,
        body: &B,
    ) -> Result<T> {
        let v: Value = self.http.put(ctx, path, &wrap(key, body)?).await?;
        self.unwrap(path, v, key)
    }

    async fn delete(&self, ctx: &RequestContext, path: &str) -> Result<()> {
        Ok(self.http.delete(ctx, path).await?)
    }

    /// `body[key]` as a `T`.
    fn unwrap<T: DeserializeOwned>(&self, path: &str, body: Value, key: &str) -> Result<T> {
        let inner = match body {
            Value::Object(mut m) => m.remove(key),
            _ => None,
        };
        let Some(inner) = inner else {
            return Err(self.decode_error(path, format!("no `{key}` in the response").into()));
        };
        serde_json::from_value(inner).map_err(|e| self.decode_error(path, Box::new(e)))
    }

    fn decode_error(
        &self,
        path: &str,
        source: Box<dyn std::error::Error + Send + Sync>,
    ) -> NetworkError {
        NetworkError::Client(ClientError::Decode { url: self.http.url(path), source })
    }
}

/// `{key: body}`, Neutron's request envelope.
fn wrap<B: Serialize>(key: &str, body: &B) -> Result<Value> {
    let inner = serde_json::to_value(body)
        .map_err(|e| NetworkError::Store(ferrostack_core::store::StoreError::Encode(e)))?;
    let mut m = Map::new();
    m.insert(key.to_owned(), inner);
    Ok(Value::Object(m))
}

/// The router renders quota sets with their project; [`QuotaSet`] is the limits alone.
fn quota_entry(
    mut m: Map<String, Value>,
) -> std::result::Result<(ProjectId, QuotaSet), ferrostack_core::BoxError> {
    m.remove("tenant_id");
    let project = m
        .remove("project_id")
        .and_then(|p| p.as_str().map(str::to_owned))
        .ok_or("a quota without project_id")?;
    let project = ProjectId::try_from(project).map_err(|_| "an invalid project_id")?;
    let quota = serde_json::from_value(Value::Object(m))?;
    Ok((project, quota))
}

#[async_trait::async_trait]
impl NetworkApi for Client {
    async fn create_network(&self, ctx: &RequestContext, req: NetworkCreate) -> Result<Network> {
        self.create(ctx, "/v2.0/networks", "network", &req).await
    }
    async fn get_network(&self, ctx: &RequestContext, id: NetworkId) -> Result<Network> {
        self.get_one(ctx, &format!("/v2.0/networks/{id}"), "network").await
    }
    async fn list_networks(&self, ctx: &RequestContext) -> Result<Vec<Network>> {
        self.get_one(ctx, "/v2.0/networks", "networks").await
    }
    async fn update_network(
        &self,
        ctx: &RequestContext,
        id: NetworkId,
        req: NetworkUpdate,
    ) -> Result<Network> {
        self.update(ctx, &format!("/v2.0/networks/{id}"), "network", &req).await
    }
    async fn delete_network(&self, ctx: &RequestContext, id: NetworkId) -> Result<()> {
        self.delete(ctx, &format!("/v2.0/networks/{id}")).await
    }

    async fn create_subnet(&self, ctx: &RequestContext, req: SubnetCreate) -> Result<Subnet> {
        self.create(ctx, "/v2.0/subnets", "subnet", &req).await
    }
    async fn get_subnet(&self, ctx: &RequestContext, id: SubnetId) -> Result<Subnet> {
        self.get_one(ctx, &format!("/v2.0/subnets/{id}"), "subnet").await
    }
    async fn list_subnets(&self, ctx: &RequestContext) -> Result<Vec<Subnet>> {
        self.get_one(ctx, "/v2.0/subnets", "subnets").await
    }
    async fn update_subnet(
        &self,
        ctx: &RequestContext,
        id: SubnetId,
        req: SubnetUpdate,
    ) -> Result<Subnet> {
        self.update(ctx, &format!("/v2.0/subnets/{id}"), "subnet", &req).await
    }
    async fn delete_subnet(&self, ctx: &RequestContext, id: SubnetId) -> Result<()> {
        self.delete(ctx, &format!("/v2.0/subnets/{id}")).await
    }

    async fn create_port(&self, ctx: &RequestContext, req: PortCreate) -> Result<Port> {
        self.create(ctx, "/v2.0/ports", "port", &req).await
    }
    async fn get_port(&self, ctx: &RequestContext, id: PortId) -> Result<Port> {
        self.get_one(ctx, &format!("/v2.0/ports/{id}"), "port").await
    }
    async fn list_ports(&self, ctx: &RequestContext) -> Result<Vec<Port>> {
        self.get_one(ctx, "/v2.0/ports", "ports").await
    }
    async fn update_port(&self, ctx: &RequestContext, id: PortId, req: PortUpdate) -> Result<Port> {
        self.update(ctx, &format!("/v2.0/ports/{id}"), "port", &req).await
    }
    async fn delete_port(&self, ctx: &RequestContext, id: PortId) -> Result<()> {
        self.delete(ctx, &format!("/v2.0/ports/{id}")).await
    }

    async fn create_router(&self, ctx: &RequestContext, req: RouterCreate) -> Result<Router> {
        self.create(ctx, "/v2.0/routers", "router", &req).await
    }
    async fn get_router(&self, ctx: &RequestContext, id: RouterId) -> Result<Router> {
        self.get_one(ctx, &format!("/v2.0/routers/{id}"), "router").await
    }
    async fn list_routers(&self, ctx: &RequestContext) -> Result<Vec<Router>> {
        self.get_one(ctx, "/v2.0/routers", "routers").await
    }
    async fn update_router(
        &self,
        ctx: &RequestContext,
        id: RouterId,
        req: RouterUpdate,
    ) -> Result<Router> {
        self.update(ctx, &format!("/v2.0/routers/{id}"), "router", &req).await
    }
    async fn delete_router(&self, ctx: &RequestContext, id: RouterId) -> Result<()> {
        self.delete(ctx, &format!("/v2.0/routers/{id}")).await
    }
    async fn add_router_interface(
        &self,
        ctx: &RequestContext,
        id: RouterId,
        req: InterfaceRequest,
    ) -> Result<RouterInterfaceInfo> {
        // The interface calls carry no envelope, in either direction.
        let path = format!("/v2.0/routers/{id}/add_router_interface");
        Ok(self.http.put(ctx, &path, &req).await?)
    }
    async fn remove_router_interface(
        &self,
        ctx: &RequestContext,
        id: RouterId,
        req: InterfaceRequest,
    ) -> Result<RouterInterfaceInfo> {
        let path = format!("/v2.0/routers/{id}/remove_router_interface");
        Ok(self.http.put(ctx, &path, &req).await?)
    }

    async fn create_floatingip(
        &self,
        ctx: &RequestContext,
        req: FloatingIpCreate,
    ) -> Result<FloatingIp> {
        self.create(ctx, "/v2.0/floatingips", "floatingip", &req).await
    }
    async fn get_floatingip(&self, ctx: &RequestContext, id: FloatingIpId) -> Result<FloatingIp> {
        self.get_one(ctx, &format!("/v2.0/floatingips/{id}"), "floatingip").await
    }
    async fn list_floatingips(&self, ctx: &RequestContext) -> Result<Vec<FloatingIp>> {
        self.get_one(ctx, "/v2.0/floatingips", "floatingips").await
    }
    async fn update_floatingip(
        &self,
        ctx: &RequestContext,
        id: FloatingIpId,
        req: FloatingIpUpdate,
    ) -> Result<FloatingIp> {
        self.update(ctx, &format!("/v2.0/floatingips/{id}"), "floatingip", &req).await
    }
    async fn delete_floatingip(&self, ctx: &RequestContext, id: FloatingIpId) -> Result<()> {
        self.delete(ctx, &format!("/v2.0/floatingips/{id}")).await
    }

    async fn create_security_group(
        &self,
        ctx: &RequestContext,
        req: SecurityGroupCreate,
    ) -> Result<SecurityGroup> {
        self.create(ctx, "/v2.0/security-groups", "security_group", &req).await
    }
    async fn get_security_group(
        &self,
        ctx: &RequestContext,
        id: SecurityGroupId,
    ) -> Result<SecurityGroup> {
        self.get_one(ctx, &format!("/v2.0/security-groups/{id}"), "security_group").await
    }
    async fn list_security_groups(&self, ctx: &RequestContext) -> Result<Vec<SecurityGroup>> {
        self.get_one(ctx, "/v2.0/security-groups", "security_groups").await
    }
    async fn update_security_group(
        &self,
        ctx: &RequestContext,
        id: SecurityGroupId,
        req: SecurityGroupUpdate,
    ) -> Result<SecurityGroup> {
        self.update(ctx, &format!("/v2.0/security-groups/{id}"), "security_group", &req).await
    }
    async fn delete_security_group(&self, ctx: &RequestContext, id: SecurityGroupId) -> Result<()> {
        self.delete(ctx, &format!("/v2.0/security-groups/{id}")).await
    }
    async fn create_security_group_rule(
        &self,
        ctx: &RequestContext,
        req: SecurityGroupRuleCreate,
    ) -> Result<SecurityGroupRule> {
        self.create(ctx, "/v2.0/security-group-rules", "security_group_rule", &req).await
    }
    async fn get_security_group_rule(
        &self,
        ctx: &RequestContext,
        id: SecurityGroupRuleId,
    ) -> Result<SecurityGroupRule> {
        self.get_one(ctx, &format!("/v2.0/security-group-rules/{id}"), "security_group_rule").await
    }
    async fn list_security_group_rules(
        &self,
        ctx: &RequestContext,
    ) -> Result<Vec<SecurityGroupRule>> {
        self.get_one(ctx, "/v2.0/security-group-rules", "security_group_rules").await
    }
    async fn delete_security_group_rule(
        &self,
        ctx: &RequestContext,
        id: SecurityGroupRuleId,
    ) -> Result<()> {
        self.delete(ctx, &format!("/v2.0/security-group-rules/{id}")).await
    }

    async fn get_quota(&self, ctx: &RequestContext, project: &ProjectId) -> Result<QuotaSet> {
        self.get_one(ctx, &format!("/v2.0/quotas/{project}"), "quota").await
    }
    async fn get_quota_details(
        &self,
        ctx: &RequestContext,
        project: &ProjectId,
    ) -> Result<Vec<(Resource, QuotaDetail)>> {
        let path = format!("/v2.0/quotas/{project}/details.json");
        let mut by_name: Map<String, Value> = self.get_one(ctx, &path, "quota").await?;
        let mut out = Vec::new();
        for r in Resource::ALL {
            if let Some(v) = by_name.remove(r.as_str()) {
                let d =
                    serde_json::from_value(v).map_err(|e| self.decode_error(&path, e.into()))?;
                out.push((r, d));
            }
        }
        Ok(out)
    }
    async fn list_quotas(&self, ctx: &RequestContext) -> Result<Vec<(ProjectId, QuotaSet)>> {
        let path = "/v2.0/quotas";
        let list: Vec<Map<String, Value>> = self.get_one(ctx, path, "quotas").await?;
        list.into_iter().map(|m| quota_entry(m).map_err(|e| self.decode_error(path, e))).collect()
    }
    async fn update_quota(
        &self,
        ctx: &RequestContext,
        project: &ProjectId,
        req: QuotaUpdate,
    ) -> Result<QuotaSet> {
        self.update(ctx, &format!("/v2.0/quotas/{project}"), "quota", &req).await
    }
    async fn delete_quota(&self, ctx: &RequestContext, project: &ProjectId) -> Result<()> {
        self.delete(ctx, &format!("/v2.0/quotas/{project}")).await
    }
}
