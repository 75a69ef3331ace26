//! A tiny HTTP client for the cases: no redirects followed, no cookie jar (cases send
//! the cookies they mean to), answers read whole.

use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::time::Duration;

pub struct Client {
    inner: reqwest::Client,
}

/// A whole answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every value of a repeated header (`set-cookie`).
    pub fn headers_all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }

    /// The value of cookie `name` set by this answer.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers_all("set-cookie").into_iter().find(|c| {
            c.split(';')
                .next()
                .and_then(|kv| kv.split_once('='))
                .is_some_and(|(k, _)| k.trim() == name)
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Result<Value> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("status {} body is not JSON: {}", self.status, self.text()))
    }

    /// Asserts a problem+json answer with `status` and `code`.
    pub fn expect_problem(&self, status: u16, code: &str) -> Result<Value> {
        let ct = self.header("content-type").unwrap_or_default();
        if self.status != status || !ct.starts_with("application/problem+json") {
            bail!(
                "expected {status} problem {code}, got {} ({ct}): {}",
                self.status,
                self.text()
            );
        }
        let v = self.json()?;
        if v["code"] != code
            || v["status"] != status
            || !v["type"].is_string()
            || !v["title"].is_string()
        {
            bail!("expected problem code {code}, got {v}");
        }
        Ok(v)
    }

    pub fn expect_status(&self, status: u16) -> Result<&Self> {
        if self.status != status {
            bail!("expected {status}, got {}: {}", self.status, self.text());
        }
        Ok(self)
    }
}

impl Client {
    pub fn new() -> Result<Self> {
        Ok(Client {
            inner: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(20))
                .no_proxy()
                .build()?,
        })
    }

    pub async fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Reply> {
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut req = self.inner.request(method.clone(), url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {url}"))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await?.to_vec();
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    pub async fn get(&self, url: &str, headers: &[(&str, &str)]) -> Result<Reply> {
        self.send("GET", url, headers, None).await
    }

    pub async fn post(&self, url: &str, headers: &[(&str, &str)]) -> Result<Reply> {
        self.send("POST", url, headers, None).await
    }
}
