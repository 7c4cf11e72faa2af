//! The node's embedded database (redb): what it must not forget across crashes. Every write is
//! one committed transaction, so a `kill -9` loses at most the write in flight, and every reader
//! of the chain re-derives anything newer from events.

use std::path::Path;

use anyhow::{Context, Result};
use redb::{Database, ReadableTable, TableDefinition};
use serde::{de::DeserializeOwned, Serialize};

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const BLOBS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("blobs");
const RECORDS: TableDefinition<u64, &[u8]> = TableDefinition::new("records");

/// A redb file with three tables: counters, blobs by blob id, and JSON records by id.
pub struct Store {
    db: Database,
}

impl Store {
    /// Opens or creates `path`.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let db = Database::create(path).with_context(|| format!("cannot open the database {}", path.display()))?;
        let tx = db.begin_write()?;
        tx.open_table(META)?;
        tx.open_table(BLOBS)?;
        tx.open_table(RECORDS)?;
        tx.commit()?;
        Ok(Store { db })
    }

    /// A counter (0 if never set).
    pub fn meta(&self, key: &str) -> Result<u64> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(META)?;
        Ok(t.get(key)?.map(|v| v.value()).unwrap_or(0))
    }

    /// Sets a counter.
    pub fn set_meta(&self, key: &str, value: u64) -> Result<()> {
        let tx = self.db.begin_write()?;
        tx.open_table(META)?.insert(key, value)?;
        tx.commit()?;
        Ok(())
    }

    /// Stores a blob under its id (the caller has checked the id).
    pub fn put_blob(&self, id: &[u8; 32], bytes: &[u8]) -> Result<()> {
        let tx = self.db.begin_write()?;
        tx.open_table(BLOBS)?.insert(id, bytes)?;
        tx.commit()?;
        Ok(())
    }

    /// A blob by id.
    pub fn blob(&self, id: &[u8; 32]) -> Result<Option<Vec<u8>>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(BLOBS)?;
        Ok(t.get(id)?.map(|v| v.value().to_vec()))
    }

    /// A registered model's ONNX bytes: from the store, else from the path the deployment
    /// recorded if they hash to its blob id (then stored). `None` if neither has them.
    pub fn model(&self, entry: &crate::chain::ModelEntry) -> Result<Option<std::sync::Arc<Vec<u8>>>> {
        let root = crate::chain::parse_word(&entry.model_root)?;
        if let Some(b) = self.blob(&root)? {
            return Ok(Some(std::sync::Arc::new(b)));
        }
        match std::fs::read(&entry.path) {
            Ok(b) if gavel_bisection::state::BlobCommitment::of(&b).id() == root => {
                self.put_blob(&root, &b)?;
                Ok(Some(std::sync::Arc::new(b)))
            }
            _ => Ok(None),
        }
    }

    /// Stores record `id`.
    pub fn put<T: Serialize>(&self, id: u64, record: &T) -> Result<()> {
        let bytes = serde_json::to_vec(record)?;
        let tx = self.db.begin_write()?;
        tx.open_table(RECORDS)?.insert(id, bytes.as_slice())?;
        tx.commit()?;
        Ok(())
    }

    /// Record `id`.
    pub fn get<T: DeserializeOwned>(&self, id: u64) -> Result<Option<T>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(RECORDS)?;
        match t.get(id)? {
            Some(v) => Ok(Some(serde_json::from_slice(v.value()).context("corrupt record")?)),
            None => Ok(None),
        }
    }

    /// Every record, by id.
    pub fn all<T: DeserializeOwned>(&self) -> Result<Vec<(u64, T)>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(RECORDS)?;
        let mut out = Vec::new();
        for row in t.iter()? {
            let (k, v) = row?;
            out.push((k.value(), serde_json::from_slice(v.value()).context("corrupt record")?));
        }
        Ok(out)
    }
}
