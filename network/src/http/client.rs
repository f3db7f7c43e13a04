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
use std::fmt::Display;

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

    /// `GET {kind}`: every item the caller may see.
    async fn list<T: DeserializeOwned>(&self, ctx: &RequestContext, kind: &Kind) -> Result<Vec<T>> {
        self.get_one(ctx, kind.path, kind.many).await
    }

    /// `GET {kind}/{id}`.
    async fn show<T: DeserializeOwned>(
        &self,
        ctx: &RequestContext,
        kind: &Kind,
        id: impl Display,
    ) -> Result<T> {
        self.get_one(ctx, &kind.item(id), kind.one).await
    }

    /// `POST {kind}` with `body` in its envelope.
    async fn create<B: Serialize, T: DeserializeOwned>(
        &self,
        ctx: &RequestContext,
        kind: &Kind,
        body: &B,
    ) -> Result<T> {
        let v: Value = self.http.post(ctx, kind.path, &wrap(kind.one, body)?).await?;
        self.unwrap(kind.path, v, kind.one)
    }

    /// `PUT {kind}/{id}` with `body` in its envelope.
    async fn update<B: Serialize, T: DeserializeOwned>(
        &self,
        ctx: &RequestContext,
        kind: &Kind,
        id: impl Display,
        body: &B,
    ) -> Result<T> {
        let path = kind.item(id);
        let v: Value = self.http.put(ctx, &path, &wrap(kind.one, body)?).await?;
        self.unwrap(&path, v, kind.one)
    }

    /// `DELETE {kind}/{id}`.
    async fn delete(&self, ctx: &RequestContext, kind: &Kind, id: impl Display) -> Result<()> {
        Ok(self.http.delete(ctx, &kind.item(id)).await?)
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

/// A Neutron resource collection: its path and the keys of its item and list envelopes.
struct Kind {
    path: &'static str,
    one: &'static str,
    many: &'static str,
}

impl Kind {
    /// The path of item `id`.
    fn item(&self, id: impl Display) -> String {
        format!("{}/{id}", self.path)
    }
}

const NETWORKS: Kind = Kind { path: "/v2.0/networks", one: "network", many: "networks" };
const SUBNETS: Kind = Kind { path: "/v2.0/subnets", one: "subnet", many: "subnets" };
const PORTS: Kind = Kind { path: "/v2.0/ports", one: "port", many: "ports" };
const ROUTERS: Kind = Kind { path: "/v2.0/routers", one: "router", many: "routers" };
const FLOATINGIPS: Kind =
    Kind { path: "/v2.0/floatingips", one: "floatingip", many: "floatingips" };
const SECURITY_GROUPS: Kind =
    Kind { path: "/v2.0/security-groups", one: "security_group", many: "security_groups" };
const SECURITY_GROUP_RULES: Kind = Kind {
    path: "/v2.0/security-group-rules",
    one: "security_group_rule",
    many: "security_group_rules",
};
const QUOTAS: Kind = Kind { path: "/v2.0/quotas", one: "quota", many: "quotas" };

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
        self.create(ctx, &NETWORKS, &req).await
    }
    async fn get_network(&self, ctx: &RequestContext, id: NetworkId) -> Result<Network> {
        self.show(ctx, &NETWORKS, id).await
    }
    async fn list_networks(&self, ctx: &RequestContext) -> Result<Vec<Network>> {
        self.list(ctx, &NETWORKS).await
    }
    async fn update_network(
        &self,
        ctx: &RequestContext,
        id: NetworkId,
        req: NetworkUpdate,
    ) -> Result<Network> {
        self.update(ctx, &NETWORKS, id, &req).await
    }
    async fn delete_network(&self, ctx: &RequestContext, id: NetworkId) -> Result<()> {
        self.delete(ctx, &NETWORKS, id).await
    }

    async fn create_subnet(&self, ctx: &RequestContext, req: SubnetCreate) -> Result<Subnet> {
        self.create(ctx, &SUBNETS, &req).await
    }
    async fn get_subnet(&self, ctx: &RequestContext, id: SubnetId) -> Result<Subnet> {
        self.show(ctx, &SUBNETS, id).await
    }
    async fn list_subnets(&self, ctx: &RequestContext) -> Result<Vec<Subnet>> {
        self.list(ctx, &SUBNETS).await
    }
    async fn update_subnet(
        &self,
        ctx: &RequestContext,
        id: SubnetId,
        req: SubnetUpdate,
    ) -> Result<Subnet> {
        self.update(ctx, &SUBNETS, id, &req).await
    }
    async fn delete_subnet(&self, ctx: &RequestContext, id: SubnetId) -> Result<()> {
        self.delete(ctx, &SUBNETS, id).await
    }

    async fn create_port(&self, ctx: &RequestContext, req: PortCreate) -> Result<Port> {
        self.create(ctx, &PORTS, &req).await
    }
    async fn get_port(&self, ctx: &RequestContext, id: PortId) -> Result<Port> {
        self.show(ctx, &PORTS, id).await
    }
    async fn list_ports(&self, ctx: &RequestContext) -> Result<Vec<Port>> {
        self.list(ctx, &PORTS).await
    }
    async fn update_port(&self, ctx: &RequestContext, id: PortId, req: PortUpdate) -> Result<Port> {
        self.update(ctx, &PORTS, id, &req).await
    }
    async fn delete_port(&self, ctx: &RequestContext, id: PortId) -> Result<()> {
        self.delete(ctx, &PORTS, id).await
    }

    async fn create_router(&self, ctx: &RequestContext, req: RouterCreate) -> Result<Router> {
        self.create(ctx, &ROUTERS, &req).await
    }
    async fn get_router(&self, ctx: &RequestContext, id: RouterId) -> Result<Router> {
        self.show(ctx, &ROUTERS, id).await
    }
    async fn list_routers(&self, ctx: &RequestContext) -> Result<Vec<Router>> {
        self.list(ctx, &ROUTERS).await
    }
    async fn update_router(
        &self,
        ctx: &RequestContext,
        id: RouterId,
        req: RouterUpdate,
    ) -> Result<Router> {
        self.update(ctx, &ROUTERS, id, &req).await
    }
    async fn delete_router(&self, ctx: &RequestContext, id: RouterId) -> Result<()> {
        self.delete(ctx, &ROUTERS, id).await
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
        self.create(ctx, &FLOATINGIPS, &req).await
    }
    async fn get_floatingip(&self, ctx: &RequestContext, id: FloatingIpId) -> Result<FloatingIp> {
        self.show(ctx, &FLOATINGIPS, id).await
    }
    async fn list_floatingips(&self, ctx: &RequestContext) -> Result<Vec<FloatingIp>> {
        self.list(ctx, &FLOATINGIPS).await
    }
    async fn update_floatingip(
        &self,
        ctx: &RequestContext,
        id: FloatingIpId,
        req: FloatingIpUpdate,
    ) -> Result<FloatingIp> {
        self.update(ctx, &FLOATINGIPS, id, &req).await
    }
    async fn delete_floatingip(&self, ctx: &RequestContext, id: FloatingIpId) -> Result<()> {
        self.delete(ctx, &FLOATINGIPS, id).await
    }

    async fn create_security_group(
        &self,
        ctx: &RequestContext,
        req: SecurityGroupCreate,
    ) -> Result<SecurityGroup> {
        self.create(ctx, &SECURITY_GROUPS, &req).await
    }
    async fn get_security_group(
        &self,
        ctx: &RequestContext,
        id: SecurityGroupId,
    ) -> Result<SecurityGroup> {
        self.show(ctx, &SECURITY_GROUPS, id).await
    }
    async fn list_security_groups(&self, ctx: &RequestContext) -> Result<Vec<SecurityGroup>> {
        self.list(ctx, &SECURITY_GROUPS).await
    }
    async fn update_security_group(
        &self,
        ctx: &RequestContext,
        id: SecurityGroupId,
        req: SecurityGroupUpdate,
    ) -> Result<SecurityGroup> {
        self.update(ctx, &SECURITY_GROUPS, id, &req).await
    }
    async fn delete_security_group(&self, ctx: &RequestContext, id: SecurityGroupId) -> Result<()> {
        self.delete(ctx, &SECURITY_GROUPS, id).await
    }
    async fn create_security_group_rule(
        &self,
        ctx: &RequestContext,
        req: SecurityGroupRuleCreate,
    ) -> Result<SecurityGroupRule> {
        self.create(ctx, &SECURITY_GROUP_RULES, &req).await
    }
    async fn get_security_group_rule(
        &self,
        ctx: &RequestContext,
        id: SecurityGroupRuleId,
    ) -> Result<SecurityGroupRule> {
        self.show(ctx, &SECURITY_GROUP_RULES, id).await
    }
    async fn list_security_group_rules(
        &self,
        ctx: &RequestContext,
    ) -> Result<Vec<SecurityGroupRule>> {
        self.list(ctx, &SECURITY_GROUP_RULES).await
    }
    async fn delete_security_group_rule(
        &self,
        ctx: &RequestContext,
        id: SecurityGroupRuleId,
    ) -> Result<()> {
        self.delete(ctx, &SECURITY_GROUP_RULES, id).await
    }

    async fn get_quota(&self, ctx: &RequestContext, project: &ProjectId) -> Result<QuotaSet> {
        self.show(ctx, &QUOTAS, project).await
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
        self.update(ctx, &QUOTAS, project, &req).await
    }
    async fn delete_quota(&self, ctx: &RequestContext, project: &ProjectId) -> Result<()> {
        self.delete(ctx, &QUOTAS, project).await
    }
}
