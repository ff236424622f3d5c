//! Where a catalog location's bytes live. One registry (the engine's runtime) is shared by every
//! session: local files, and one S3 client per bucket, created the first time a location in
//! that bucket is read. S3 settings come from the AWS environment (`AWS_ENDPOINT_URL_S3`,
//! `AWS_REGION`, credentials, …) with `[storage.s3]` on top.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::RuntimeEnv;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::{BackoffConfig, ClientConfigKey, RetryConfig};
use url::Url;

/// A TCP connection to S3 that is not up by then is retried (or fails the statement).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// S3 settings that override the AWS environment.
#[derive(Debug, Clone)]
pub struct S3Settings {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub allow_http: Option<bool>,
    pub virtual_hosted_style: Option<bool>,
    /// Retries of a failed request (object_store's default, 10 within 3 minutes, would hold a
    /// statement for minutes while S3 is down).
    pub max_retries: usize,
    /// Bound on one request, and on a request with all its retries.
    pub timeout: Duration,
}

impl Default for S3Settings {
    fn default() -> Self {
        Self {
            endpoint: None,
            region: None,
            allow_http: None,
            virtual_hosted_style: None,
            max_retries: 3,
            timeout: Duration::from_secs(30),
        }
    }
}

/// A location resolved to a registered store.
#[derive(Debug, Clone)]
pub struct ResolvedLocation {
    /// The store's key in the registry (`file:///`, `s3://bucket`).
    pub store: ObjectStoreUrl,
    /// The path inside that store.
    pub prefix: ObjectPath,
    /// The location as a URL (what deltalake opens).
    pub url: Url,
}

#[derive(Debug)]
pub struct ObjectStores {
    runtime: Arc<RuntimeEnv>,
    lake_root: PathBuf,
    s3: S3Settings,
    buckets: Mutex<HashSet<String>>,
}

impl ObjectStores {
    pub fn new(runtime: Arc<RuntimeEnv>, lake_root: &Path, s3: S3Settings) -> Result<Self, String> {
        let lake_root = std::path::absolute(lake_root)
            .map_err(|e| format!("invalid lake root {}: {e}", lake_root.display()))?;
        // deltalake opens `s3://` tables only through a registered log-store factory.
        deltalake::aws::register_handlers(None);
        Ok(Self {
            runtime,
            lake_root,
            s3,
            buckets: Mutex::default(),
        })
    }

    /// Resolves a catalog location: a path relative to the lake root, an absolute path,
    /// `file://…`, or `s3://bucket/key` (also `s3a://` and `s3n://`, as Hive writes them).
    pub fn resolve(&self, location: &str) -> Result<ResolvedLocation, String> {
        match location.split_once("://") {
            None if Path::new(location).is_absolute() => self.local(Path::new(location)),
            None => self.local(&self.lake_root.join(location)),
            Some(("file", path)) => self.local(Path::new(path)),
            Some(("s3" | "s3a" | "s3n", rest)) => self.s3(rest),
            Some((scheme, _)) => Err(format!(
                "locations with scheme {scheme}:// are not supported (use s3:// or a path)"
            )),
        }
    }

    fn local(&self, dir: &Path) -> Result<ResolvedLocation, String> {
        let prefix = ObjectPath::from_absolute_path(dir).map_err(|e| e.to_string())?;
        let url = Url::from_directory_path(dir).map_err(|()| "invalid path".to_owned())?;
        Ok(ResolvedLocation {
            store: ObjectStoreUrl::local_filesystem(),
            prefix,
            url,
        })
    }

    fn s3(&self, rest: &str) -> Result<ResolvedLocation, String> {
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err("an s3:// location has no bucket".to_owned());
        }
        self.register_bucket(bucket)?;
        let key = key.trim_matches('/');
        let prefix = ObjectPath::parse(key).unwrap_or_else(|_| ObjectPath::from(key));
        let url = Url::parse(&format!("s3://{bucket}/{key}/")).map_err(|e| e.to_string())?;
        let store = ObjectStoreUrl::parse(format!("s3://{bucket}")).map_err(|e| e.to_string())?;
        Ok(ResolvedLocation { store, prefix, url })
    }

    fn register_bucket(&self, bucket: &str) -> Result<(), String> {
        let mut buckets = self.buckets.lock().expect("bucket registry");
        if buckets.contains(bucket) {
            return Ok(());
        }
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        let s3 = &self.s3;
        if let Some(endpoint) = &s3.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(region) = &s3.region {
            builder = builder.with_region(region);
        }
        if let Some(allow) = s3.allow_http {
            builder = builder.with_allow_http(allow);
        }
        if let Some(virtual_hosted) = s3.virtual_hosted_style {
            builder = builder.with_virtual_hosted_style_request(virtual_hosted);
        }
        let retry = RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: s3.max_retries,
            retry_timeout: s3.timeout,
        };
        // As config keys: replacing the ClientOptions would drop allow_http and the
        // environment's client settings.
        let timeouts = [
            (ClientConfigKey::Timeout, s3.timeout),
            (
                ClientConfigKey::ConnectTimeout,
                CONNECT_TIMEOUT.min(s3.timeout),
            ),
        ];
        for (key, value) in timeouts {
            let value = format!("{}ms", value.as_millis());
            builder = builder.with_config(AmazonS3ConfigKey::Client(key), value);
        }
        let store = builder
            .with_retry(retry)
            .build()
            .map_err(|e| format!("cannot set up S3 access to bucket {bucket}: {e}"))?;
        let url = Url::parse(&format!("s3://{bucket}")).map_err(|e| e.to_string())?;
        self.runtime.register_object_store(&url, Arc::new(store));
        buckets.insert(bucket.to_owned());
        Ok(())
    }

    /// The store behind a resolved location.
    pub fn store(
        &self,
        location: &ResolvedLocation,
    ) -> datafusion::error::Result<Arc<dyn object_store::ObjectStore>> {
        self.runtime.object_store(&location.store)
    }
}
