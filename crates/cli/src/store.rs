//! Where runs are recorded: `--store URL` / `RUNBOOK_DATABASE_URL`, by default a SQLite file
//! in the user's data directory; `--store none` runs without a record.

use std::sync::Arc;

use clap::Args;
use runbook_store::SqlStore;

use crate::connect::UsageError;

#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Where runs are recorded: sqlite://PATH or postgres://USER@HOST/DB; `none` keeps no
    /// record (such a run cannot be resumed). Default: runs.db in runbook's data folder.
    #[arg(
        long = "store",
        env = "RUNBOOK_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub store: Option<String>,
}

impl StoreArgs {
    /// The store's URL, or None for `none`.
    pub fn url(&self) -> Option<String> {
        match self.store.as_deref().map(str::trim) {
            Some("none") => None,
            Some(url) if !url.is_empty() => Some(url.to_owned()),
            _ => Some(SqlStore::default_url()),
        }
    }

    /// Opens the store (None for `none`). A store that cannot be opened is a usage error.
    pub async fn open(&self) -> anyhow::Result<Option<Arc<SqlStore>>> {
        let Some(url) = self.url() else {
            return Ok(None);
        };
        let store = SqlStore::open(&url)
            .await
            .map_err(|error| UsageError(error.to_string()))?;
        Ok(Some(Arc::new(store)))
    }

    /// Opens the store; commands that read runs need one.
    pub async fn open_required(&self) -> anyhow::Result<Arc<SqlStore>> {
        self.open().await?.ok_or_else(|| {
            UsageError(
                "`--store none` keeps no runs; give the store the runs were recorded in".to_owned(),
            )
            .into()
        })
    }
}
