//! The canonical tensor-set encoding (`spec/tensors.md`).
//!
//! Inputs enter the machine and outputs leave it in this one byte format, so the input blob a
//! claim commits to and the output id it names are defined without reference to `.npy` or ONNX.
//! The crate has no required dependencies and no `unsafe`, because the guest (wasm32) and the
//! host both link it and must decode identically. The `tract` feature adds conversions to and
//! from tract tensors.
#![forbid(unsafe_code)]

pub mod blob;
#[cfg(feature = "tract")]
pub mod tract;

use core::fmt;

/// First bytes of every encoded tensor set.
pub const MAGIC: &[u8; 4] = b"GVTS";
/// Encoding version written after the magic.
pub const VERSION: u8 = 1;
/// Largest tensor rank accepted.
pub const MAX_RANK: usize = 16;
/// Largest number of tensors in one set.
pub const MAX_TENSORS: usize = 4096;
/// Longest tensor name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 4096;

/// Element types of the encoding. The numbers are wire format (`spec/tensors.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DType {
    /// IEEE-754 binary32.
    F32 = 1,
    /// IEEE-754 binary64.
    F64 = 2,
    /// Signed 8-bit integer.
    I8 = 3,
    /// Unsigned 8-bit integer.
    U8 = 4,
    /// Signed 16-bit integer.
    I16 = 5,
    /// Unsigned 16-bit integer.
    U16 = 6,
    /// Signed 32-bit integer.
    I32 = 7,
    /// Unsigned 32-bit integer.
    U32 = 8,
    /// Signed 64-bit integer.
    I64 = 9,
    /// Unsigned 64-bit integer.
    U64 = 10,
    /// Boolean, one byte, 0 or 1.
    Bool = 11,
    /// IEEE-754 binary16.
    F16 = 12,
}

impl DType {
    /// All element types, in wire order.
    pub const ALL: [DType; 12] = [
        DType::F32,
        DType::F64,
        DType::I8,
        DType::U8,
        DType::I16,
        DType::U16,
        DType::I32,
        DType::U32,
        DType::I64,
        DType::U64,
        DType::Bool,
        DType::F16,
    ];

    /// Decodes a wire dtype code.
    pub fn from_code(code: u8) -> Option<DType> {
        DType::ALL.iter().copied().find(|d| *d as u8 == code)
    }

    /// Size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            DType::I8 | DType::U8 | DType::Bool => 1,
            DType::I16 | DType::U16 | DType::F16 => 2,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F64 | DType::I64 | DType::U64 => 8,
        }
    }

    /// Lower-case name as numpy spells it (`float32`, `int64`, `bool`).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::I8 => "int8",
            DType::U8 => "uint8",
            DType::I16 => "int16",
            DType::U16 => "uint16",
            DType::I32 => "int32",
            DType::U32 => "uint32",
            DType::I64 => "int64",
            DType::U64 => "uint64",
            DType::Bool => "bool",
            DType::F16 => "float16",
        }
    }

    /// Parses the numpy-style name back.
    pub fn from_name(name: &str) -> Option<DType> {
        DType::ALL.iter().copied().find(|d| d.name() == name)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One named tensor: little-endian, row-major element bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tensor {
    /// Name (an ONNX graph input/output name; empty means "the only input").
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Dimensions; empty for a scalar.
    pub shape: Vec<u64>,
    /// `product(shape) * dtype.size()` bytes.
    pub data: Vec<u8>,
}

impl Tensor {
    /// Builds a tensor, checking that `data` has exactly the size `shape` and `dtype` imply.
    pub fn new(name: impl Into<String>, dtype: DType, shape: Vec<u64>, data: Vec<u8>) -> Result<Tensor, CodecError> {
        let name = name.into();
        if shape.len() > MAX_RANK {
            return Err(CodecError::RankTooLarge { rank: shape.len() });
        }
        let expected = byte_len(dtype, &shape).ok_or(CodecError::SizeOverflow)?;
        if expected != data.len() as u64 {
            return Err(CodecError::DataLength { name, expected, found: data.len() as u64 });
        }
        Ok(Tensor { name, dtype, shape, data })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len() / self.dtype.size()
    }

    /// True for a tensor with no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Shape as `[1, 3, 224, 224]`.
    pub fn shape_string(&self) -> String {
        let dims: Vec<String> = self.shape.iter().map(|d| d.to_string()).collect();
        format!("[{}]", dims.join(", "))
    }
}

/// Byte length of a tensor's data, or `None` on overflow.
pub fn byte_len(dtype: DType, shape: &[u64]) -> Option<u64> {
    shape.iter().try_fold(dtype.size() as u64, |acc, d| acc.checked_mul(*d))
}

/// Why bytes are not a valid tensor set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodecError {
    /// The bytes end before a field does.
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Byte offset where it started.
        offset: usize,
    },
    /// The magic is not `GVTS`.
    BadMagic,
    /// Unknown encoding version.
    BadVersion(u8),
    /// Unknown dtype code.
    BadDType(u8),
    /// Rank above [`MAX_RANK`].
    RankTooLarge {
        /// Rank found.
        rank: usize,
    },
    /// More tensors than [`MAX_TENSORS`].
    TooManyTensors(u64),
    /// Name longer than [`MAX_NAME_LEN`] or not UTF-8.
    BadName,
    /// Dimensions multiply past 2^64.
    SizeOverflow,
    /// Data size does not match shape and dtype.
    DataLength {
        /// Tensor name.
        name: String,
        /// Bytes implied by shape and dtype.
        expected: u64,
        /// Bytes given.
        found: u64,
    },
    /// Bytes follow the last tensor.
    TrailingBytes(usize),
    /// Two tensors share a name.
    DuplicateName(String),
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodecError::Truncated { what, offset } => write!(f, "tensor set truncated while reading {what} at byte {offset}"),
            CodecError::BadMagic => write!(f, "not a gavel tensor set (magic is not GVTS)"),
            CodecError::BadVersion(v) => write!(f, "tensor set version {v} is not supported (expected {VERSION})"),
            CodecError::BadDType(c) => write!(f, "unknown dtype code {c}"),
            CodecError::RankTooLarge { rank } => write!(f, "tensor rank {rank} exceeds the maximum of {MAX_RANK}"),
            CodecError::TooManyTensors(n) => write!(f, "{n} tensors exceed the maximum of {MAX_TENSORS}"),
            CodecError::BadName => write!(f, "tensor name is not UTF-8 or longer than {MAX_NAME_LEN} bytes"),
            CodecError::SizeOverflow => write!(f, "tensor dimensions overflow a 64-bit byte count"),
            CodecError::DataLength { name, expected, found } => {
                write!(f, "tensor '{name}': expected {expected} data bytes, found {found}")
            }
            CodecError::TrailingBytes(n) => write!(f, "{n} unexpected bytes after the last tensor"),
            CodecError::DuplicateName(n) => write!(f, "tensor name '{n}' appears twice"),
        }
    }
}

impl std::error::Error for CodecError {}

/// Encodes a tensor set canonically.
pub fn encode(tensors: &[Tensor]) -> Vec<u8> {
    let body: usize = tensors.iter().map(|t| 4 + t.name.len() + 2 + 8 * t.shape.len() + t.data.len()).sum();
    let mut out = Vec::with_capacity(9 + body);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&(tensors.len() as u32).to_le_bytes());
    for t in tensors {
        out.extend_from_slice(&(t.name.len() as u32).to_le_bytes());
        out.extend_from_slice(t.name.as_bytes());
        out.push(t.dtype as u8);
        out.push(t.shape.len() as u8);
        for d in &t.shape {
            out.extend_from_slice(&d.to_le_bytes());
        }
        out.extend_from_slice(&t.data);
    }
    out
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], CodecError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.bytes.len());
        match end {
            Some(end) => {
                let s = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(CodecError::Truncated { what, offset: self.pos }),
        }
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, CodecError> {
        Ok(self.take(1, what)?[0])
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, CodecError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64, CodecError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
}

/// Decodes a tensor set, rejecting anything that [`encode`] would not produce.
pub fn decode(bytes: &[u8]) -> Result<Vec<Tensor>, CodecError> {
    let mut r = Reader { bytes, pos: 0 };
    if r.take(4, "magic")? != MAGIC {
        return Err(CodecError::BadMagic);
    }
    let version = r.u8("version")?;
    if version != VERSION {
        return Err(CodecError::BadVersion(version));
    }
    let count = r.u32("tensor count")? as u64;
    if count as usize > MAX_TENSORS {
        return Err(CodecError::TooManyTensors(count));
    }
    let mut tensors: Vec<Tensor> = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let name_len = r.u32("name length")? as usize;
        if name_len > MAX_NAME_LEN {
            return Err(CodecError::BadName);
        }
        let name = core::str::from_utf8(r.take(name_len, "name")?).map_err(|_| CodecError::BadName)?.to_string();
        if tensors.iter().any(|t| t.name == name) {
            return Err(CodecError::DuplicateName(name));
        }
        let code = r.u8("dtype")?;
        let dtype = DType::from_code(code).ok_or(CodecError::BadDType(code))?;
        let rank = r.u8("rank")? as usize;
        if rank > MAX_RANK {
            return Err(CodecError::RankTooLarge { rank });
        }
        let mut shape = Vec::with_capacity(rank);
        for _ in 0..rank {
            shape.push(r.u64("dimension")?);
        }
        let len = byte_len(dtype, &shape).ok_or(CodecError::SizeOverflow)?;
        let remaining = (bytes.len() - r.pos) as u64;
        if len > remaining {
            return Err(CodecError::DataLength { name, expected: len, found: remaining });
        }
        let data = r.take(len as usize, "data")?.to_vec();
        tensors.push(Tensor { name, dtype, shape, data });
    }
    if r.pos != bytes.len() {
        return Err(CodecError::TrailingBytes(bytes.len() - r.pos));
    }
    Ok(tensors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Tensor> {
        vec![
            Tensor::new("x", DType::F32, vec![2, 2], vec![0u8; 16]).unwrap(),
            Tensor::new("sr", DType::I64, vec![], 16000i64.to_le_bytes().to_vec()).unwrap(),
        ]
    }

    #[test]
    fn roundtrip() {
        let enc = encode(&sample());
        assert_eq!(decode(&enc).unwrap(), sample());
    }

    #[test]
    fn every_truncation_is_an_error() {
        let enc = encode(&sample());
        for cut in 0..enc.len() {
            assert!(decode(&enc[..cut]).is_err(), "prefix of {cut} bytes decoded");
        }
    }

    #[test]
    fn trailing_bytes_rejected() {
        let mut enc = encode(&sample());
        enc.push(0);
        assert_eq!(decode(&enc), Err(CodecError::TrailingBytes(1)));
    }

    #[test]
    fn huge_dims_do_not_allocate() {
        let mut enc = encode(&[]);
        enc[5..9].copy_from_slice(&1u32.to_le_bytes());
        enc.extend_from_slice(&0u32.to_le_bytes());
        enc.push(DType::F32 as u8);
        enc.push(2);
        enc.extend_from_slice(&u64::MAX.to_le_bytes());
        enc.extend_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(decode(&enc), Err(CodecError::SizeOverflow));
    }

    #[test]
    fn duplicate_names_rejected() {
        let t = Tensor::new("a", DType::U8, vec![1], vec![1]).unwrap();
        assert!(matches!(decode(&encode(&[t.clone(), t])), Err(CodecError::DuplicateName(_))));
    }
}
