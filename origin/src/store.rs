//! Redis access with a key prefix.
//!
//! Every key the origin writes starts with `URR_REDIS_PREFIX`, so several deployments
//! (or every integration test) can share one Redis without seeing each other's data.
//! Keys used together by one script carry the same cluster hash tag, built by
//! [`Redis::tagged`], so the scripts also run on Redis Cluster (no `CROSSSLOT` errors).

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub struct Redis {
    conn: ConnectionManager,
    prefix: Arc<str>,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl Redis {
    /// Connects lazily: the origin starts (and serves what it can from Postgres) while
    /// Redis is down; calls fail fast instead of hanging. A call without an answer
    /// within `response_timeout` fails (a Redis stalled by a stampede is treated like an
    /// absent one: booking falls back to Postgres, the queue answers 503).
    pub fn connect(
        url: &str,
        prefix: &str,
        response_timeout: Duration,
    ) -> redis::RedisResult<Redis> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(1000)))
            .set_response_timeout(Some(response_timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Redis {
            conn,
            prefix: prefix.into(),
        })
    }

    /// A plain key: `<prefix><suffix>`.
    pub fn key(&self, suffix: &str) -> String {
        format!("{}{}", self.prefix, suffix)
    }

    /// A key in the slot of hash tag `tag`: `<prefix>{<tag>}:<rest>`.
    pub fn tagged(&self, tag: &str, rest: &str) -> String {
        format!("{}{{{}}}:{}", self.prefix, tag, rest)
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A connection handle; cheap to clone, multiplexed underneath.
    pub fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    pub async fn ping(&self) -> redis::RedisResult<()> {
        let mut c = self.conn();
        redis::cmd("PING")
            .query_async::<String>(&mut c)
            .await
            .map(|_| ())
    }
}

/// The hash tag of a Redis key (the part between the first `{` and the next `}`), as
/// Redis Cluster computes it.
pub fn hash_tag(key: &str) -> Option<&str> {
    let open = key.find('{')?;
    let close = open + 1 + key[open + 1..].find('}')?;
    (close > open + 1).then(|| &key[open + 1..close])
}
