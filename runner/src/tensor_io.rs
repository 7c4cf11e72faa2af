//! Reading tensors from `.npy` and ONNX `TensorProto` (`.pb`) files, and writing `.npy`.

use std::path::Path;

use gavel_codec::{byte_len, DType, Tensor};

use crate::error::{read_file, Result, RunnerError};

fn bad(path: &Path, reason: impl Into<String>) -> RunnerError {
    RunnerError::TensorFile { path: path.to_path_buf(), reason: reason.into() }
}

/// Reads a tensor file, choosing the format by extension (`.npy` or `.pb`).
pub fn read_tensor_file(path: &Path, name: &str) -> Result<Tensor> {
    let bytes = read_file(path)?;
    match path.extension().and_then(|e| e.to_str()) {
        Some("npy") => parse_npy(&bytes, name).map_err(|r| bad(path, r)),
        Some("pb") => parse_tensor_proto(&bytes, name).map_err(|r| bad(path, r)),
        _ => Err(bad(path, "unknown tensor file type (expected .npy or .pb)")),
    }
}

fn npy_dtype(descr: &str) -> Result<DType, String> {
    let (order, code) = descr.split_at(1.min(descr.len()));
    let dtype = match code {
        "f4" => DType::F32,
        "f8" => DType::F64,
        "f2" => DType::F16,
        "i1" => DType::I8,
        "u1" => DType::U8,
        "i2" => DType::I16,
        "u2" => DType::U16,
        "i4" => DType::I32,
        "u4" => DType::U32,
        "i8" => DType::I64,
        "u8" => DType::U64,
        "b1" => DType::Bool,
        _ => return Err(format!("unsupported numpy dtype '{descr}'")),
    };
    match order {
        "<" | "|" => Ok(dtype),
        "=" if cfg!(target_endian = "little") => Ok(dtype),
        _ if dtype.size() == 1 => Ok(dtype),
        _ => Err(format!("big-endian numpy dtype '{descr}' is not supported")),
    }
}

/// Extracts the value of `'key':` from a numpy header dict.
fn header_field<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("'{key}':");
    let at = header.find(&pat)? + pat.len();
    Some(header[at..].trim_start())
}

/// Parses a `.npy` file (format versions 1-3, C order).
pub fn parse_npy(bytes: &[u8], name: &str) -> Result<Tensor, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy file (bad magic)".into());
    }
    let (header_len, start): (usize, usize) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err("truncated .npy header".into());
            }
            (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)
        }
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let end = start.checked_add(header_len).filter(|e| *e <= bytes.len()).ok_or("truncated .npy header")?;
    let header = std::str::from_utf8(&bytes[start..end]).map_err(|_| ".npy header is not text")?;
    let descr = header_field(header, "descr").ok_or("no 'descr' in .npy header")?;
    let descr = descr.strip_prefix('\'').and_then(|d| d.split('\'').next()).ok_or("bad 'descr' in .npy header")?;
    let dtype = npy_dtype(descr)?;
    let fortran = header_field(header, "fortran_order").ok_or("no 'fortran_order' in .npy header")?;
    if fortran.starts_with("True") {
        return Err("Fortran-ordered arrays are not supported; save with np.ascontiguousarray".into());
    }
    let shape = header_field(header, "shape").ok_or("no 'shape' in .npy header")?;
    let shape = shape.strip_prefix('(').and_then(|s| s.split(')').next()).ok_or("bad 'shape' in .npy header")?;
    let dims = shape
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<u64>().map_err(|_| format!("bad dimension '{s}' in .npy shape")))
        .collect::<Result<Vec<u64>, String>>()?;
    let len = byte_len(dtype, &dims).ok_or("shape overflows")?;
    let data = &bytes[end..];
    if data.len() as u64 != len {
        return Err(format!("expected {len} data bytes for {} {:?}, found {}", dtype, dims, data.len()));
    }
    Tensor::new(name, dtype, dims, data.to_vec()).map_err(|e| e.to_string())
}

/// Writes a tensor as a version-1 `.npy` file.
pub fn to_npy(t: &Tensor) -> Vec<u8> {
    let descr = match t.dtype {
        DType::Bool => "|b1".to_string(),
        DType::I8 => "|i1".into(),
        DType::U8 => "|u1".into(),
        d => {
            let code = match d {
                DType::F32 => "f4",
                DType::F64 => "f8",
                DType::F16 => "f2",
                DType::I16 => "i2",
                DType::U16 => "u2",
                DType::I32 => "i4",
                DType::U32 => "u4",
                DType::I64 => "i8",
                _ => "u8",
            };
            format!("<{code}")
        }
    };
    let shape = match t.shape.len() {
        0 => "()".to_string(),
        1 => format!("({},)", t.shape[0]),
        _ => format!("({})", t.shape.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&t.data);
    out
}

struct Pb<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Pb<'a> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.b.get(self.pos).ok_or("truncated protobuf varint")?;
            self.pos += 1;
            v |= ((byte & 0x7f) as u64) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("protobuf varint longer than 10 bytes".into())
    }
    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.varint()? as usize;
        let end = self.pos.checked_add(n).filter(|e| *e <= self.b.len()).ok_or("truncated protobuf field")?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn skip(&mut self, wire: u64) -> Result<(), String> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => self.fixed(8).map(|_| ()),
            2 => self.bytes().map(|_| ()),
            5 => self.fixed(4).map(|_| ()),
            w => Err(format!("unsupported protobuf wire type {w}")),
        }
    }
    fn fixed(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.b.len()).ok_or("truncated protobuf field")?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
}

/// Repeated numeric field: packed (wire 2) or one element (wire 0/1/5).
fn numeric(p: &mut Pb<'_>, wire: u64, out: &mut Vec<u64>, width: usize) -> Result<(), String> {
    match wire {
        2 => {
            let data = p.bytes()?;
            let mut inner = Pb { b: data, pos: 0 };
            while inner.pos < data.len() {
                out.push(match width {
                    0 => inner.varint()?,
                    4 => u32::from_le_bytes(inner.fixed(4)?.try_into().map_err(|_| "bad fixed32")?) as u64,
                    _ => u64::from_le_bytes(inner.fixed(8)?.try_into().map_err(|_| "bad fixed64")?),
                });
            }
        }
        0 => out.push(p.varint()?),
        5 => out.push(u32::from_le_bytes(p.fixed(4)?.try_into().map_err(|_| "bad fixed32")?) as u64),
        1 => out.push(u64::from_le_bytes(p.fixed(8)?.try_into().map_err(|_| "bad fixed64")?)),
        w => return Err(format!("unexpected wire type {w} for a numeric field")),
    }
    Ok(())
}

/// Parses an ONNX `TensorProto`.
pub fn parse_tensor_proto(bytes: &[u8], name: &str) -> Result<Tensor, String> {
    let mut p = Pb { b: bytes, pos: 0 };
    let (mut dims, mut data_type, mut raw, mut proto_name) = (Vec::new(), 0u64, None, String::new());
    let (mut floats, mut int32s, mut int64s, mut doubles, mut uint64s) = (vec![], vec![], vec![], vec![], vec![]);
    while p.pos < bytes.len() {
        let key = p.varint()?;
        let (field, wire) = (key >> 3, key & 7);
        match field {
            1 => numeric(&mut p, wire, &mut dims, 0)?,
            2 => data_type = p.varint()?,
            4 => numeric(&mut p, wire, &mut floats, 4)?,
            5 => numeric(&mut p, wire, &mut int32s, 0)?,
            6 => return Err("string tensors are not supported".into()),
            7 => numeric(&mut p, wire, &mut int64s, 0)?,
            8 => proto_name = String::from_utf8_lossy(p.bytes()?).into_owned(),
            9 => raw = Some(p.bytes()?),
            10 => numeric(&mut p, wire, &mut doubles, 8)?,
            11 => numeric(&mut p, wire, &mut uint64s, 0)?,
            13 | 14 => return Err("tensors with external data are not supported".into()),
            _ => p.skip(wire)?,
        }
    }
    let dtype = match data_type {
        1 => DType::F32,
        2 => DType::U8,
        3 => DType::I8,
        4 => DType::U16,
        5 => DType::I16,
        6 => DType::I32,
        7 => DType::I64,
        9 => DType::Bool,
        10 => DType::F16,
        11 => DType::F64,
        12 => DType::U32,
        13 => DType::U64,
        0 => return Err("TensorProto has no data_type (not a tensor file?)".into()),
        t => return Err(format!("unsupported ONNX data type {t}")),
    };
    let name = if name.is_empty() { proto_name } else { name.to_string() };
    let n = dims.iter().try_fold(1u64, |a, d| a.checked_mul(*d)).ok_or("shape overflows")?;
    let data = if let Some(raw) = raw {
        raw.to_vec()
    } else {
        let (vals, width) = match dtype {
            DType::F32 => (&floats, 4),
            DType::F64 => (&doubles, 8),
            DType::I64 => (&int64s, 8),
            DType::U32 | DType::U64 => (&uint64s, dtype.size()),
            _ => (&int32s, dtype.size()),
        };
        if vals.len() as u64 != n {
            return Err(format!("expected {n} values, found {}", vals.len()));
        }
        let mut data = Vec::with_capacity(vals.len() * width);
        for v in vals {
            data.extend_from_slice(&v.to_le_bytes()[..width]);
        }
        data
    };
    Tensor::new(name, dtype, dims, data).map_err(|e| e.to_string())
}

/// Decodes a tensor's elements as `f64` (for printing and tolerance checks).
pub fn as_f64(t: &Tensor) -> Vec<f64> {
    let s = t.dtype.size();
    t.data
        .chunks_exact(s)
        .map(|c| match t.dtype {
            DType::F32 => f32::from_le_bytes(c.try_into().unwrap_or([0; 4])) as f64,
            DType::F64 => f64::from_le_bytes(c.try_into().unwrap_or([0; 8])),
            DType::F16 => f16_to_f32(u16::from_le_bytes([c[0], c[1]])) as f64,
            DType::I8 => c[0] as i8 as f64,
            DType::U8 | DType::Bool => c[0] as f64,
            DType::I16 => i16::from_le_bytes([c[0], c[1]]) as f64,
            DType::U16 => u16::from_le_bytes([c[0], c[1]]) as f64,
            DType::I32 => i32::from_le_bytes(c.try_into().unwrap_or([0; 4])) as f64,
            DType::U32 => u32::from_le_bytes(c.try_into().unwrap_or([0; 4])) as f64,
            DType::I64 => i64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f64,
            DType::U64 => u64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f64,
        })
        .collect()
}

fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            let shift = f.leading_zeros() - 21;
            sign | ((113 - shift) << 23) | ((f << (shift + 1)) & 0x3ff) << 13
        }
        (31, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 112) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_roundtrip() {
        for (dtype, shape) in [(DType::F32, vec![2, 3]), (DType::I64, vec![]), (DType::Bool, vec![4]), (DType::U8, vec![1, 1, 2])] {
            let n = byte_len(dtype, &shape).unwrap() as usize;
            let t = Tensor::new("t", dtype, shape, (0..n).map(|i| (i % 2) as u8).collect()).unwrap();
            assert_eq!(parse_npy(&to_npy(&t), "t").unwrap(), t);
        }
    }

    #[test]
    fn npy_truncations_are_errors() {
        let t = Tensor::new("t", DType::F32, vec![3], vec![0; 12]).unwrap();
        let enc = to_npy(&t);
        for cut in 0..enc.len() {
            assert!(parse_npy(&enc[..cut], "t").is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn tensor_proto_raw_and_typed() {
        // dims [2], data_type FLOAT, raw_data 8 bytes
        let mut pb = vec![0x08, 0x02, 0x10, 0x01, 0x4a, 0x08];
        pb.extend_from_slice(&1.5f32.to_le_bytes());
        pb.extend_from_slice(&(-2.0f32).to_le_bytes());
        let t = parse_tensor_proto(&pb, "x").unwrap();
        assert_eq!(as_f64(&t), vec![1.5, -2.0]);
        // dims [2], INT64 via packed int64_data [3, 300]
        let pb = [0x08, 0x02, 0x10, 0x07, 0x3a, 0x03, 0x03, 0xac, 0x02];
        let t = parse_tensor_proto(&pb, "y").unwrap();
        assert_eq!(as_f64(&t), vec![3.0, 300.0]);
        assert!(parse_tensor_proto(&pb[..7], "y").is_err());
        assert!(parse_tensor_proto(b"garbage garbage", "z").is_err());
    }

    #[test]
    fn f16_decodes() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 5.960_464_5e-8);
    }
}
