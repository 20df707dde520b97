//! Objects being received: in memory while small, spilled to an unnamed temporary file once larger
//! than a threshold, so many large transfers at once hold disk, not memory. The file has no name
//! (`O_TMPFILE` where the system has it), so nothing is left behind by a crash or a dropped
//! association.

use bytes::Bytes;
use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// One object's bytes as they arrive.
#[derive(Debug)]
pub struct Spool {
    memory: Vec<u8>,
    file: Option<tokio::fs::File>,
    len: u64,
    spill_at: usize,
    dir: PathBuf,
}

impl Spool {
    /// A spool starting with `head`, kept in memory up to `spill_at` bytes, then in a temporary
    /// file in `dir`.
    pub fn new(head: Vec<u8>, spill_at: usize, dir: &Path) -> Self {
        Self {
            len: head.len() as u64,
            memory: head,
            file: None,
            spill_at,
            dir: dir.to_owned(),
        }
    }

    /// Bytes held so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the bytes went to disk.
    pub fn spilled(&self) -> bool {
        self.file.is_some()
    }

    /// Appends `bytes`.
    pub async fn push(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.len += bytes.len() as u64;
        if self.file.is_none() {
            if self.memory.len() + bytes.len() <= self.spill_at {
                self.memory.extend_from_slice(bytes);
                return Ok(());
            }
            let dir = self.dir.clone();
            let file = tokio::task::spawn_blocking(move || tempfile::tempfile_in(&dir))
                .await
                .map_err(std::io::Error::other)??;
            let mut file = tokio::fs::File::from_std(file);
            file.write_all(&std::mem::take(&mut self.memory)).await?;
            self.file = Some(file);
        }
        match self.file.as_mut() {
            Some(f) => f.write_all(bytes).await,
            None => Ok(()),
        }
    }

    /// Everything received, in memory (the pipeline parses objects whole).
    pub async fn into_bytes(self) -> std::io::Result<Bytes> {
        let Some(mut file) = self.file else {
            return Ok(Bytes::from(self.memory));
        };
        file.flush().await?;
        file.seek(SeekFrom::Start(0)).await?;
        let mut all = Vec::with_capacity(usize::try_from(self.len).unwrap_or(0));
        file.read_to_end(&mut all).await?;
        Ok(Bytes::from(all))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn small_objects_stay_in_memory_and_large_ones_go_to_disk_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut small = Spool::new(b"head".to_vec(), 16, dir.path());
        small.push(b"0123456789").await.unwrap();
        assert!(!small.spilled());
        assert_eq!(&small.into_bytes().await.unwrap()[..], b"head0123456789");

        let mut large = Spool::new(b"head".to_vec(), 16, dir.path());
        let mut expected = b"head".to_vec();
        for i in 0..1000u32 {
            let chunk = i.to_le_bytes().repeat(17);
            large.push(&chunk).await.unwrap();
            expected.extend_from_slice(&chunk);
        }
        assert!(large.spilled());
        assert_eq!(large.len(), expected.len() as u64);
        assert_eq!(large.into_bytes().await.unwrap(), expected);
        // The spill file has no name: nothing is left in the directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
