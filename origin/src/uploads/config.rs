//! Upload settings.

use crate::config::Vars;
use anyhow::{Result, bail};

#[derive(Debug, Clone)]
pub struct UploadsConfig {
    /// `URR_UPLOADS_STORE`, default `data/uploads`: a local directory, or an object
    /// store URL (`s3://bucket/prefix`; any S3-compatible store, configured by the
    /// usual `AWS_*` variables such as `AWS_ENDPOINT`, `AWS_REGION`,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`).
    pub store: String,
    /// `URR_UPLOADS_PUBLIC_BASE`, default `/media`: the URL prefix of stored images
    /// (the origin serves `/media/…` itself; point it at a CDN in front of the bucket
    /// instead if you have one).
    pub public_base: String,
    /// `URR_UPLOADS_MAX_BYTES`, default 5 MiB: the largest image accepted.
    pub max_bytes: usize,
}

impl UploadsConfig {
    pub(crate) fn from_vars(v: &Vars<'_>) -> Result<UploadsConfig> {
        let c = UploadsConfig {
            store: v.string("URR_UPLOADS_STORE", "data/uploads"),
            public_base: v
                .string("URR_UPLOADS_PUBLIC_BASE", "/media")
                .trim_end_matches('/')
                .to_owned(),
            max_bytes: v.parse("URR_UPLOADS_MAX_BYTES", 5 * 1024 * 1024)?,
        };
        if c.store.trim().is_empty() {
            bail!("URR_UPLOADS_STORE must name a directory or an object store URL");
        }
        if c.max_bytes == 0 || c.max_bytes > 50 * 1024 * 1024 {
            bail!("URR_UPLOADS_MAX_BYTES must be 1..=52428800");
        }
        Ok(c)
    }
}
