// SPDX-License-Identifier: Apache-2.0
//! [`Client`]: [`ImageApi`] over Glance v2's REST API.

use bytes::Bytes;
use ferrostack_core::RequestContext;
use ferrostack_core::http::client::{Body, ClientError, Query, ServiceClient, encode_segment};
use ferrostack_core::id::ImageId;
use futures::{StreamExt, TryStreamExt};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::PATCH_MEDIA_TYPES;
use crate::api::{CreateImage, ImageApi, ListQuery, PatchOp};
use crate::error::{ImageError, Result};
use crate::store::ByteStream;
use crate::types::{Image, ImportTask, Member, MemberStatus};

/// The media type of image data.
const OCTET_STREAM: &str = "application/octet-stream";

/// An image service reached over HTTP: ours, or any Glance speaking API v2.
///
/// Every call carries the caller's token (`ctx.auth_token`, or the [`ServiceClient`]'s token
/// source for contexts without one). Image data streams in both directions: an upload sends
/// the [`ByteStream`] as the request body as it is produced, a download hands back the
/// response body as a stream; neither holds an image in memory. Refusals keep the server's
/// class and message ([`ImageError::Api`]).
///
/// Glance's image JSON does not list an image's members, so the [`Image`]s this client returns
/// have empty [`Image::members`]; [`ImageApi::members`] reads them.
///
/// ```no_run
/// # async fn demo(ctx: ferrostack_core::RequestContext) -> ferrostack_image::error::Result<()> {
/// use ferrostack_image::{CreateImage, ImageApi, http::Client};
/// let glance = Client::new("http://127.0.0.1:8770/image");
/// let image = glance.create(&ctx, CreateImage::new("cirros", "qcow2", "bare")).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    http: ServiceClient,
}

impl Client {
    /// A client of the image endpoint at `base_url` (the root the Glance router is mounted at,
    /// e.g. `http://127.0.0.1:8770/image`; requests go to `<base_url>/v2/...`).
    pub fn new(base_url: impl Into<String>) -> Self {
        Client { http: ServiceClient::new(base_url) }
    }

    /// A client over a configured [`ServiceClient`] (token source, timeouts, headers).
    pub fn with_service_client(http: ServiceClient) -> Self {
        Client { http }
    }

    /// The underlying HTTP client.
    pub fn service_client(&self) -> &ServiceClient {
        &self.http
    }

    fn image_path(id: &ImageId) -> String {
        format!("/v2/images/{id}")
    }

    async fn send_data(
        &self,
        ctx: &RequestContext,
        path: &str,
        data: ByteStream,
    ) -> Result<reqwest::Response> {
        let body = reqwest::Body::wrap_stream(data);
        let body = Body::Stream(body, OCTET_STREAM, None);
        Ok(self.http.send(ctx, Method::PUT, path, Some(body)).await?)
    }
}

/// A response body the client cannot read as what it expects.
fn undecodable(what: &str, e: serde_json::Error) -> ImageError {
    ImageError::Remote(ClientError::Decode { url: what.to_owned(), source: Box::new(e) })
}

fn image_from(v: Value) -> Result<Image> {
    Image::from_json(v).map_err(|e| undecodable("image", e))
}

fn member_from(v: Value) -> Result<Member> {
    Image::member_from_json(v).map_err(|e| undecodable("member", e))
}

fn list_query(q: &ListQuery) -> String {
    let ids = q.ids.as_ref().map(|ids| {
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        format!("in:{}", ids.join(","))
    });
    Query::new()
        .push_opt("name", q.name.as_deref())
        .push_opt("visibility", q.visibility.map(|v| v.as_str()))
        .push_opt("status", q.status.map(|s| s.as_str()))
        .push_opt("id", ids)
        .push_opt("owner", q.owner.as_deref())
        .push_opt("marker", q.marker)
        .push_opt("limit", q.limit)
        .finish()
}

fn member_status(s: MemberStatus) -> &'static str {
    match s {
        MemberStatus::Pending => "pending",
        MemberStatus::Accepted => "accepted",
        MemberStatus::Rejected => "rejected",
    }
}

#[async_trait::async_trait]
impl ImageApi for Client {
    async fn create(&self, ctx: &RequestContext, req: CreateImage) -> Result<Image> {
        image_from(self.http.post(ctx, "/v2/images", &req).await?)
    }

    async fn get(&self, ctx: &RequestContext, id: &ImageId) -> Result<Image> {
        image_from(self.http.get(ctx, &Self::image_path(id)).await?)
    }

    async fn list(&self, ctx: &RequestContext, q: &ListQuery) -> Result<Vec<Image>> {
        #[derive(Deserialize)]
        struct Page {
            images: Vec<Value>,
        }
        let page: Page = self.http.get(ctx, &format!("/v2/images{}", list_query(q))).await?;
        page.images.into_iter().map(image_from).collect()
    }

    async fn update(&self, ctx: &RequestContext, id: &ImageId, ops: Vec<PatchOp>) -> Result<Image> {
        let path = Self::image_path(id);
        image_from(self.http.patch_json(ctx, &path, PATCH_MEDIA_TYPES[0], &ops).await?)
    }

    async fn delete(&self, ctx: &RequestContext, id: &ImageId) -> Result<()> {
        Ok(self.http.delete(ctx, &Self::image_path(id)).await?)
    }

    async fn upload(&self, ctx: &RequestContext, id: &ImageId, data: ByteStream) -> Result<Image> {
        self.send_data(ctx, &format!("{}/file", Self::image_path(id)), data).await?;
        self.get(ctx, id).await
    }

    async fn stage(&self, ctx: &RequestContext, id: &ImageId, data: ByteStream) -> Result<()> {
        self.send_data(ctx, &format!("{}/stage", Self::image_path(id)), data).await?;
        Ok(())
    }

    async fn import(
        &self,
        ctx: &RequestContext,
        id: &ImageId,
        method: &str,
        uri: Option<&str>,
    ) -> Result<Image> {
        let mut m = json!({"name": method});
        if let Some(uri) = uri {
            m["uri"] = uri.into();
        }
        let path = format!("{}/import", Self::image_path(id));
        self.http.post_no_content(ctx, &path, &json!({"method": m})).await?;
        self.get(ctx, id).await
    }

    async fn import_methods(&self, ctx: &RequestContext) -> Result<Vec<String>> {
        let v: Value = self.http.get(ctx, "/v2/info/import").await?;
        let methods = v.pointer("/import-methods/value").cloned().unwrap_or(Value::Null);
        serde_json::from_value(methods).map_err(|e| undecodable("import methods", e))
    }

    async fn tasks(&self, ctx: &RequestContext, id: &ImageId) -> Result<Vec<ImportTask>> {
        #[derive(Deserialize)]
        struct Tasks {
            tasks: Vec<Value>,
        }
        let t: Tasks = self.http.get(ctx, &format!("{}/tasks", Self::image_path(id))).await?;
        t.tasks
            .into_iter()
            .map(|t| ImportTask::from_json(t).map_err(|e| undecodable("task", e)))
            .collect()
    }

    async fn download(
        &self,
        ctx: &RequestContext,
        id: &ImageId,
    ) -> Result<Option<(Image, ByteStream)>> {
        let image = self.get(ctx, id).await?;
        let path = format!("{}/file", Self::image_path(id));
        let resp = self.http.send(ctx, Method::GET, &path, None).await?;
        if resp.status() == reqwest::StatusCode::NO_CONTENT {
            return Ok(None);
        }
        let url = resp.url().to_string();
        let stream = resp
            .bytes_stream()
            .map_err(move |source| {
                ImageError::Remote(ClientError::Transport { url: url.clone(), source })
            })
            .map_ok(Bytes::from)
            .boxed();
        Ok(Some((image, stream)))
    }

    async fn set_active(&self, ctx: &RequestContext, id: &ImageId, active: bool) -> Result<()> {
        let action = if active { "reactivate" } else { "deactivate" };
        let path = format!("{}/actions/{action}", Self::image_path(id));
        self.http.send(ctx, Method::POST, &path, None).await?;
        Ok(())
    }

    async fn tag(&self, ctx: &RequestContext, id: &ImageId, tag: &str, add: bool) -> Result<()> {
        let path = format!("{}/tags/{}", Self::image_path(id), encode_segment(tag));
        let method = if add { Method::PUT } else { Method::DELETE };
        self.http.send(ctx, method, &path, None).await?;
        Ok(())
    }

    async fn members(&self, ctx: &RequestContext, id: &ImageId) -> Result<(Image, Vec<Member>)> {
        #[derive(Deserialize)]
        struct Members {
            members: Vec<Value>,
        }
        let m: Members = self.http.get(ctx, &format!("{}/members", Self::image_path(id))).await?;
        let members = m.members.into_iter().map(member_from).collect::<Result<_>>()?;
        Ok((self.get(ctx, id).await?, members))
    }

    async fn add_member(&self, ctx: &RequestContext, id: &ImageId, member: &str) -> Result<Member> {
        let path = format!("{}/members", Self::image_path(id));
        member_from(self.http.post(ctx, &path, &json!({"member": member})).await?)
    }

    async fn update_member(
        &self,
        ctx: &RequestContext,
        id: &ImageId,
        member: &str,
        status: MemberStatus,
    ) -> Result<Member> {
        let path = format!("{}/members/{}", Self::image_path(id), encode_segment(member));
        let body = json!({"status": member_status(status)});
        member_from(self.http.put(ctx, &path, &body).await?)
    }

    async fn remove_member(&self, ctx: &RequestContext, id: &ImageId, member: &str) -> Result<()> {
        let path = format!("{}/members/{}", Self::image_path(id), encode_segment(member));
        Ok(self.http.delete(ctx, &path).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ImageStatus, Visibility};

    #[test]
    fn list_filters_become_glance_query_parameters() {
        let id = ImageId::new();
        let q = ListQuery {
            name: Some("a b".into()),
            visibility: Some(Visibility::Community),
            status: Some(ImageStatus::Active),
            ids: Some(vec![id]),
            limit: Some(3),
            ..ListQuery::default()
        };
        assert_eq!(
            list_query(&q),
            format!("?name=a%20b&visibility=community&status=active&id=in%3A{id}&limit=3")
        );
        assert_eq!(list_query(&ListQuery::default()), "");
    }
}
