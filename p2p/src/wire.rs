//! The blob protocol's wire format (`spec/p2p.md`): fixed-size requests, one bounded chunk per
//! response. Every read is bounded before it allocates, and trailing bytes are an error, so a
//! peer cannot make a node buffer more than one chunk per stream.

use std::io;

use libp2p::futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;

/// A blob's content id: the id the claims commit to (`spec/machine.md`, blob ids).
pub type BlobId = [u8; 32];

/// The request-response protocol of blob transfer.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/gavel/blob/1");

/// The largest chunk one response may carry (1 MiB).
pub const CHUNK: u32 = 1 << 20;

/// Encoded request size: id, offset (u64 BE), length (u32 BE).
pub const REQUEST_LEN: usize = 32 + 8 + 4;

const OK: u8 = 0;
const NOT_FOUND: u8 = 1;
const BAD_RANGE: u8 = 2;

/// "Send me `len` bytes of blob `id` from `offset`."
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlobRequest {
    /// Which blob.
    pub id: BlobId,
    /// First byte wanted.
    pub offset: u64,
    /// Bytes wanted (at most [`CHUNK`]).
    pub len: u32,
}

/// A peer's answer to a [`BlobRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlobResponse {
    /// The blob's total length and the requested bytes (fewer at its end).
    Chunk {
        /// Length of the whole blob.
        total: u64,
        /// The bytes from the requested offset.
        bytes: Vec<u8>,
    },
    /// The peer does not have the blob.
    NotFound,
    /// The offset is past the blob's end, or the length is zero or over [`CHUNK`].
    BadRange,
}

impl BlobRequest {
    /// The 44-byte encoding.
    pub fn encode(&self) -> [u8; REQUEST_LEN] {
        let mut out = [0u8; REQUEST_LEN];
        out[..32].copy_from_slice(&self.id);
        out[32..40].copy_from_slice(&self.offset.to_be_bytes());
        out[40..].copy_from_slice(&self.len.to_be_bytes());
        out
    }

    /// Decodes exactly [`REQUEST_LEN`] bytes.
    pub fn decode(b: &[u8]) -> Result<BlobRequest, String> {
        if b.len() != REQUEST_LEN {
            return Err(format!("a blob request is {REQUEST_LEN} bytes, got {}", b.len()));
        }
        let mut id = [0u8; 32];
        id.copy_from_slice(&b[..32]);
        let offset = u64::from_be_bytes(b[32..40].try_into().map_err(|_| "offset")?);
        let len = u32::from_be_bytes(b[40..].try_into().map_err(|_| "length")?);
        Ok(BlobRequest { id, offset, len })
    }

    /// The answer to this request from a blob's bytes.
    pub fn answer(&self, blob: &[u8]) -> BlobResponse {
        let total = blob.len() as u64;
        if self.len == 0 || self.len > CHUNK || self.offset > total || (self.offset == total && total != 0) {
            return BlobResponse::BadRange;
        }
        let start = self.offset as usize;
        let end = (self.offset + u64::from(self.len)).min(total) as usize;
        BlobResponse::Chunk { total, bytes: blob[start..end].to_vec() }
    }
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Fails if the stream has any byte left.
async fn expect_end<T: AsyncRead + Unpin>(io: &mut T) -> io::Result<()> {
    let mut extra = Vec::new();
    io.take(1).read_to_end(&mut extra).await?;
    if extra.is_empty() {
        Ok(())
    } else {
        Err(invalid("trailing bytes after the message"))
    }
}

/// Reads one request (exactly [`REQUEST_LEN`] bytes, then the end of the stream).
pub async fn read_request<T: AsyncRead + Unpin>(io: &mut T) -> io::Result<BlobRequest> {
    let mut b = [0u8; REQUEST_LEN];
    io.read_exact(&mut b).await?;
    expect_end(io).await?;
    BlobRequest::decode(&b).map_err(invalid)
}

/// Writes one request.
pub async fn write_request<T: AsyncWrite + Unpin>(io: &mut T, req: &BlobRequest) -> io::Result<()> {
    io.write_all(&req.encode()).await?;
    io.flush().await
}

/// Reads one response: a status byte, then for a chunk its total length (u64 BE), its length
/// (u32 BE, at most [`CHUNK`]) and its bytes.
pub async fn read_response<T: AsyncRead + Unpin>(io: &mut T) -> io::Result<BlobResponse> {
    let mut status = [0u8; 1];
    io.read_exact(&mut status).await?;
    let r = match status[0] {
        OK => {
            let mut head = [0u8; 12];
            io.read_exact(&mut head).await?;
            let total = u64::from_be_bytes(head[..8].try_into().map_err(|_| invalid("total"))?);
            let len = u32::from_be_bytes(head[8..].try_into().map_err(|_| invalid("length"))?);
            if len > CHUNK {
                return Err(invalid(format!("a chunk of {len} bytes is over the {CHUNK}-byte limit")));
            }
            if u64::from(len) > total {
                return Err(invalid(format!("a chunk of {len} bytes from a blob of {total}")));
            }
            let mut bytes = vec![0u8; len as usize];
            io.read_exact(&mut bytes).await?;
            BlobResponse::Chunk { total, bytes }
        }
        NOT_FOUND => BlobResponse::NotFound,
        BAD_RANGE => BlobResponse::BadRange,
        s => return Err(invalid(format!("unknown response status {s}"))),
    };
    expect_end(io).await?;
    Ok(r)
}

/// Writes one response.
pub async fn write_response<T: AsyncWrite + Unpin>(io: &mut T, r: &BlobResponse) -> io::Result<()> {
    match r {
        BlobResponse::Chunk { total, bytes } => {
            let len = u32::try_from(bytes.len()).ok().filter(|&l| l <= CHUNK).ok_or_else(|| invalid("chunk over the limit"))?;
            io.write_all(&[OK]).await?;
            io.write_all(&total.to_be_bytes()).await?;
            io.write_all(&len.to_be_bytes()).await?;
            io.write_all(bytes).await?;
        }
        BlobResponse::NotFound => io.write_all(&[NOT_FOUND]).await?,
        BlobResponse::BadRange => io.write_all(&[BAD_RANGE]).await?,
    }
    io.flush().await
}

/// The request-response codec of [`PROTOCOL`]. Requests that cannot be read are reported on
/// `bad` (libp2p drops them without an event).
#[derive(Clone, Debug, Default)]
pub struct BlobCodec {
    /// Where unreadable requests are reported (dropped when full).
    pub bad: Option<tokio::sync::mpsc::Sender<String>>,
}

impl libp2p::request_response::Codec for BlobCodec {
    type Protocol = StreamProtocol;
    type Request = BlobRequest;
    type Response = BlobResponse;

    async fn read_request<T: AsyncRead + Unpin + Send>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<BlobRequest> {
        let r = read_request(io).await;
        if let (Err(e), Some(bad)) = (&r, &self.bad) {
            let _ = bad.try_send(e.to_string());
        }
        r
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<BlobResponse> {
        read_response(io).await
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(&mut self, _: &StreamProtocol, io: &mut T, req: BlobRequest) -> io::Result<()> {
        write_request(io, &req).await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(&mut self, _: &StreamProtocol, io: &mut T, r: BlobResponse) -> io::Result<()> {
        write_response(io, &r).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libp2p::futures::executor::block_on;
    use libp2p::futures::io::Cursor;

    fn resp(bytes: &[u8]) -> io::Result<BlobResponse> {
        block_on(read_response(&mut Cursor::new(bytes.to_vec())))
    }

    #[test]
    fn requests_round_trip_and_reject_bad_lengths() {
        let r = BlobRequest { id: [7; 32], offset: 1 << 40, len: CHUNK };
        let mut buf = Cursor::new(Vec::new());
        block_on(write_request(&mut buf, &r)).unwrap();
        assert_eq!(block_on(read_request(&mut Cursor::new(buf.get_ref().clone()))).unwrap(), r);
        let mut long = buf.get_ref().clone();
        long.push(0);
        assert!(block_on(read_request(&mut Cursor::new(long))).is_err(), "trailing byte");
        assert!(block_on(read_request(&mut Cursor::new(vec![0u8; REQUEST_LEN - 1]))).is_err(), "short");
        assert!(block_on(read_request(&mut Cursor::new(Vec::new()))).is_err(), "empty");
    }

    #[test]
    fn responses_round_trip_and_reject_garbage() {
        for r in [BlobResponse::Chunk { total: 10, bytes: vec![1, 2, 3] }, BlobResponse::NotFound, BlobResponse::BadRange] {
            let mut buf = Cursor::new(Vec::new());
            block_on(write_response(&mut buf, &r)).unwrap();
            assert_eq!(resp(buf.get_ref()).unwrap(), r);
        }
        // Unknown status, oversize chunk, chunk longer than its blob, truncated body, trailing byte.
        assert!(resp(&[9]).is_err());
        let mut over = vec![0u8];
        over.extend_from_slice(&u64::MAX.to_be_bytes());
        over.extend_from_slice(&(CHUNK + 1).to_be_bytes());
        assert!(resp(&over).is_err());
        let mut longer = vec![0u8];
        longer.extend_from_slice(&2u64.to_be_bytes());
        longer.extend_from_slice(&3u32.to_be_bytes());
        longer.extend_from_slice(&[1, 2, 3]);
        assert!(resp(&longer).is_err());
        let mut cut = vec![0u8];
        cut.extend_from_slice(&10u64.to_be_bytes());
        cut.extend_from_slice(&3u32.to_be_bytes());
        cut.extend_from_slice(&[1, 2]);
        assert!(resp(&cut).is_err());
        assert!(resp(&[1, 0]).is_err());
    }

    #[test]
    fn answers_are_bounded() {
        let blob: Vec<u8> = (0..100u8).collect();
        let q = |offset, len| BlobRequest { id: [0; 32], offset, len }.answer(&blob);
        assert_eq!(q(90, 50), BlobResponse::Chunk { total: 100, bytes: (90..100).collect() });
        assert_eq!(q(100, 1), BlobResponse::BadRange);
        assert_eq!(q(0, 0), BlobResponse::BadRange);
        assert_eq!(q(0, CHUNK + 1), BlobResponse::BadRange);
        assert_eq!(BlobRequest { id: [0; 32], offset: 0, len: 1 }.answer(&[]), BlobResponse::Chunk { total: 0, bytes: vec![] });
    }
}
