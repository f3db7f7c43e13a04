// SPDX-License-Identifier: Apache-2.0
//! The `web-download` import method: a task per import, the download in the background.

use ferrostack_core::RequestContext;
use ferrostack_core::id::ImageId;
use ferrostack_core::store::{Collection, Txn};
use serde_json::json;
use time::OffsetDateTime;

use super::{IMPORT_TASK_PROPERTY, ImageService, target};
use crate::error::{ImageError, Result};
use crate::types::*;
use crate::web_download::Downloader;

impl ImageService {
    pub(super) fn tasks_of(&self, id: &ImageId) -> Collection<ImportTask> {
        Collection::new(self.images.store().clone(), format!("image/tasks/{id}/"))
    }

    /// `web-download`: checks, then `queued` → `importing` with a new task (one transaction),
    /// then downloads in the background.
    pub(super) async fn web_download(
        &self,
        ctx: &RequestContext,
        id: &ImageId,
        uri: Option<&str>,
    ) -> Result<Image> {
        let Some(dl) = self.downloader.clone() else {
            return Err(ImageError::Invalid("Import method web-download is not enabled".into()));
        };
        let (mut img, rev) = self.load(ctx, id).await?;
        self.authorize("upload_image", ctx, &target(&img))?;
        if img.status != ImageStatus::Queued {
            return Err(ImageError::Conflict(
                "Image needs to be in 'queued' state to use 'web-download' method".into(),
            ));
        }
        if img.container_format.is_none() {
            return Err(ImageError::Conflict(
                "'container_format' needs to be set before import".into(),
            ));
        }
        if img.disk_format.is_none() {
            return Err(ImageError::Conflict("'disk_format' needs to be set before import".into()));
        }
        let uri = match uri {
            Some(u) if u.len() <= 2048 => u,
            Some(_) => return Err(ImageError::Invalid("uri is too long".into())),
            None => {
                return Err(ImageError::Invalid(
                    "'uri' needs to be set for web-download import method".into(),
                ));
            }
        };
        let url = dl.filter().check(uri)?;
        if img.properties.contains_key(IMPORT_TASK_PROPERTY) {
            return Err(ImageError::Conflict(format!(
                "New operation on image '{id}' is not permitted as prior operation is still in progress"
            )));
        }
        let now = OffsetDateTime::now_utc();
        let task = ImportTask {
            id: uuid::Uuid::new_v4().to_string(),
            image_id: *id,
            owner: ctx.project_id().map(|p| p.to_string()),
            user_id: Some(ctx.user_id.to_string()),
            request_id: Some(ctx.request_id.clone()).filter(|r| !r.is_empty()),
            status: TaskStatus::Processing,
            input: json!({"method": {"name": "web-download", "uri": uri}}),
            message: String::new(),
            created_at: now,
            updated_at: now,
        };
        img.transition(ImageStatus::Importing)?;
        img.properties.insert(IMPORT_TASK_PROPERTY.into(), task.id.clone());
        let key = id.to_string();
        let tasks = self.tasks_of(id);
        let txn = Txn::new()
            .when(self.images.unchanged(&key, rev))
            .when(tasks.absent(&task.id))
            .op(self.images.put_op(&key, &img)?)
            .op(tasks.put_op(&task.id, &task)?);
        if !self.images.store().txn(txn).await?.is_committed() {
            return Err(ImageError::Conflict("the image was changed concurrently; retry".into()));
        }
        let svc = self.clone();
        let image = img.clone();
        tokio::spawn(async move { svc.run_web_download(image, task, dl, url).await });
        Ok(img)
    }

    async fn run_web_download(
        self,
        img: Image,
        task: ImportTask,
        dl: Downloader,
        url: reqwest::Url,
    ) {
        let id = img.id;
        let outcome: std::result::Result<Image, String> = async {
            let stream = dl.open(url, self.config.image_size_cap).await?;
            let writer = self.data.begin(&id).await.map_err(|e| error_chain(&e))?;
            let digest =
                self.ingest(&img, stream, Some(writer)).await.map_err(|e| error_chain(&e))?;
            self.activate(&id, ImageStatus::Importing, digest).await.map_err(|e| error_chain(&e))
        }
        .await;
        let (status, message) = match outcome {
            Ok(_) => (TaskStatus::Success, String::new()),
            Err(msg) => {
                tracing::info!(image = %id, error = %msg, "web-download import failed");
                self.revert(&id, ImageStatus::Importing).await;
                (TaskStatus::Failure, msg)
            }
        };
        let r = self
            .tasks_of(&id)
            .update_with::<ImageError, _>(&task.id, |t| {
                t.status = status;
                t.message = message.clone();
                t.updated_at = OffsetDateTime::now_utc();
                Ok(())
            })
            .await;
        if let Err(e) = r {
            tracing::warn!(image = %id, error = %e, "could not record the import task's outcome");
        }
    }

    pub(super) async fn import_tasks(
        &self,
        ctx: &RequestContext,
        id: &ImageId,
    ) -> Result<Vec<ImportTask>> {
        let (img, _) = self.load(ctx, id).await?;
        self.authorize("get_image", ctx, &target(&img))?;
        let mut tasks: Vec<ImportTask> =
            self.tasks_of(id).list_all().await?.into_iter().map(|v| v.value).collect();
        tasks.sort_by_key(|t| t.created_at);
        Ok(tasks)
    }
}

/// An error and its causes on one line (import task messages).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}
