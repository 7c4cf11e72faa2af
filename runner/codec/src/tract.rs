//! Conversions between wire tensors and tract tensors (same tract version as the guest).

use tract_data::prelude::{f16, Datum, DatumType, Tensor as TractTensor};

use crate::{DType, Tensor};

/// The tract element type of a wire dtype.
pub fn dtype_to_tract(d: DType) -> DatumType {
    match d {
        DType::F32 => f32::datum_type(),
        DType::F64 => f64::datum_type(),
        DType::F16 => f16::datum_type(),
        DType::I8 => i8::datum_type(),
        DType::U8 => u8::datum_type(),
        DType::I16 => i16::datum_type(),
        DType::U16 => u16::datum_type(),
        DType::I32 => i32::datum_type(),
        DType::U32 => u32::datum_type(),
        DType::I64 => i64::datum_type(),
        DType::U64 => u64::datum_type(),
        DType::Bool => bool::datum_type(),
    }
}

/// The wire dtype of a tract element type (quantized types map to their storage type).
pub fn dtype_from_tract(d: DatumType) -> Option<DType> {
    DType::ALL.iter().copied().find(|w| dtype_to_tract(*w) == d.unquantized())
}

/// A tract tensor with the same shape and bytes.
pub fn to_tract(t: &Tensor) -> Result<TractTensor, String> {
    let shape: Vec<usize> = t.shape.iter().map(|d| *d as usize).collect();
    let mut out = TractTensor::zero_dt(dtype_to_tract(t.dtype), &shape).map_err(|e| format!("{e:#}"))?;
    out.as_bytes_mut().copy_from_slice(&t.data);
    Ok(out)
}

/// A wire tensor named `name` with the same shape and bytes.
pub fn from_tract(name: &str, t: &TractTensor) -> Result<Tensor, String> {
    let dtype = dtype_from_tract(t.datum_type())
        .ok_or_else(|| format!("tensor '{name}' has dtype {:?}, which gavel cannot encode", t.datum_type()))?;
    let shape = t.shape().iter().map(|d| *d as u64).collect();
    Tensor::new(name, dtype, shape, t.as_bytes().to_vec()).map_err(|e| e.to_string())
}
